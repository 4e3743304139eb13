package transport

import (
	"net/http"

	"github.com/hashicorp/go-cleanhttp"
)

// Pool sizes of DefaultPooledTransport.
const (
	// DefaultMaxIdleConnsPerHost is how many idle connections to one host
	// are kept for reuse. cleanhttp keeps GOMAXPROCS+1 and net/http 2,
	// which makes concurrent callers close and redial: 1,000 GETs, 128 at
	// a time, open about 800 connections with cleanhttp's pool and 130 to
	// 150 with this one (TestPoolOpensNoMoreThanTheConcurrencyNeeds). It is
	// twice the concurrency it serves well, because a call that starts
	// before the previous call's connection is back in the pool dials
	// another.
	DefaultMaxIdleConnsPerHost = 256
	// DefaultMaxIdleConns bounds the idle connections to all hosts.
	DefaultMaxIdleConns = 1024
)

// DefaultPooledTransport returns a new cleanhttp.DefaultPooledTransport()
// (timeouts, HTTP/2, proxy from the environment) whose pool keeps
// DefaultMaxIdleConnsPerHost idle connections per host and
// DefaultMaxIdleConns in all. Chain and NewClient use it when no base is
// given. Idle connections close after the transport's IdleConnTimeout
// (90s).
func DefaultPooledTransport() *http.Transport {
	t := cleanhttp.DefaultPooledTransport()
	t.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	t.MaxIdleConns = DefaultMaxIdleConns
	return t
}
