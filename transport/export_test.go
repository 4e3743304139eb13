package transport

import "net/http"

// HostCount returns how many hosts a RateLimit transport keeps state for.
func HostCount(rt http.RoundTripper) int {
	t := rt.(*rateTransport)
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.hosts)
}
