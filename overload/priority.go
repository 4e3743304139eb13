package overload

import (
	"net/http"
	"strings"
)

// DefaultPriority is the priority of a request when Options.Priority is
// nil: Sheddable for a retry (IsRetry), Normal otherwise. A Priority hook
// of your own can end in it:
//
//	func(r *http.Request) overload.Priority {
//		if r.URL.Path == "/healthz" {
//			return overload.Critical
//		}
//		return overload.DefaultPriority(r)
//	}
func DefaultPriority(r *http.Request) Priority {
	if IsRetry(r) {
		return Sheddable
	}
	return Normal
}

// IsRetry reports whether a request says it is a retry, by the headers
// clients set for it:
//
//	Retry-Attempt: N                  N > 1 (rtchain's transport.HeaderOptions.AttemptHeader)
//	X-Envoy-Attempt-Count: N          N > 1 (Envoy, Istio)
//	amz-sdk-request: attempt=N; max=M N > 1 (the AWS SDKs)
//	grpc-previous-rpc-attempts: N     N > 0 (gRPC's retries, gRFC A6)
//
// Malformed values are ignored. It does not allocate.
func IsRetry(r *http.Request) bool {
	h := r.Header
	if len(h) == 0 {
		return false
	}
	if n, ok := count(h["Retry-Attempt"]); ok && n > 1 {
		return true
	}
	if n, ok := count(h["X-Envoy-Attempt-Count"]); ok && n > 1 {
		return true
	}
	if n, ok := count(h["Grpc-Previous-Rpc-Attempts"]); ok && n > 0 {
		return true
	}
	if vs := h["Amz-Sdk-Request"]; len(vs) > 0 {
		for part := range strings.SplitSeq(vs[0], ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "attempt="); ok {
				n, ok := number(v)
				return ok && n > 1
			}
		}
	}
	return false
}

// count reads the first of vs as a small decimal number.
func count(vs []string) (int, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	return number(strings.TrimSpace(vs[0]))
}

// number parses 1 to 9 decimal digits, without allocating on failure as
// strconv does.
func number(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
