package transport

import "net/http"

// HostCount returns how many hosts a RateLimit transport keeps state for.
func HostCount(rt http.RoundTripper) int {
	return rt.(*rateTransport).hosts.len()
}
