package idempotency

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Defaults applied by Middleware to the zero fields of Options.
const (
	DefaultHeader           = "Idempotency-Key"
	DefaultTTL              = 24 * time.Hour
	DefaultLease            = time.Minute
	DefaultMaxRequestBytes  = 1 << 20
	DefaultMaxResponseBytes = 1 << 20
	DefaultRetryAfter       = time.Second
	// MaxKeyLength is the longest key accepted, in bytes.
	MaxKeyLength = 255
)

// Options configures Middleware. Its zero value means the documented
// defaults: an in-memory store, POST and PATCH covered, the Idempotency-Key
// header, keys kept 24h, a 1-minute lease, request and response bodies up to
// 1 MiB, keys optional, keys scoped by the caller's credentials
// (CallerScope), Set-Cookie never stored, and a store failure answered with
// 503.
type Options struct {
	// Store keeps the records. nil means NewMemoryStore(0, 0), which serves
	// one process; use a shared store (redisstore) for a fleet.
	Store Store
	// Methods are the methods a key applies to. nil means POST and PATCH.
	// Requests with other methods pass through untouched.
	Methods []string
	// Header names the key's header. "" means DefaultHeader.
	Header string
	// TTL is how long a completed response is kept and replayed. 0 means
	// DefaultTTL.
	TTL time.Duration
	// Lease is how long an in-progress record holds its key if the instance
	// running it stalls or dies; after it, a duplicate runs the handler
	// again, and the stale run can no longer store its outcome (nor pass
	// Confirm, its fence before the effect). It must be longer than the
	// handler's longest run, or the handler calls Confirm, which extends
	// it, within each lease. 0 means DefaultLease.
	Lease time.Duration
	// MaxRequestBytes bounds the request body read for the fingerprint (and
	// handed to the handler from memory); a longer one is answered 413.
	// 0 means DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// MaxResponseBytes bounds a stored response body. A longer response is
	// delivered in full but not stored: a duplicate then gets 410 Gone,
	// never a second run. 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Required answers a covered request without a key with 400. By
	// default such a request runs unprotected.
	Required bool
	// Scope returns the namespace of a request's key (a tenant, an API
	// key's account), so that keys of different scopes never meet: a
	// stored answer is replayed only within its scope. nil means
	// CallerScope(nil): one scope per set of credentials. OneScope puts
	// every caller in one.
	Scope func(*http.Request) string
	// PrivateHeaders names response header fields that reach the client
	// of the first run but are never stored, so never replayed: a
	// duplicate's answer lacks them. Set-Cookie is always private.
	PrivateHeaders []string
	// FailOpen runs the handler unprotected when the store fails. By
	// default the request is answered 503 with Retry-After, so that an
	// outage of the store never causes a double effect.
	FailOpen bool
	// RetryAfter is what 409 (in progress) and 503 (store failure) answers
	// ask the client to wait. 0 means DefaultRetryAfter.
	RetryAfter time.Duration
	// ProblemBase is the start of the type URI of the problem+json
	// answers: a page of the service's own documentation, with a section
	// per problem named by the Problem constants (the fragment). ""
	// means the package's ProblemBase, rtchain's docs/problems.md.
	ProblemBase string
	// Logger receives store failures and lost leases. nil means
	// slog.Default().
	Logger *slog.Logger
	// OnReplay, when set, is called after a stored response was replayed
	// to a duplicate request (Idempotent-Replayed: true), with that
	// request: for metrics (rtotel's Instrumentation.Replayed). It must be
	// safe for concurrent use. OnOutcome reports replays too
	// (OutcomeReplayed), beside every other way a request ends; set one or
	// the other.
	OnReplay func(*http.Request)
	// OnOutcome, when set, is called once for each covered request with a
	// key (and each without one, when Required), with the request as the
	// middleware received it and how it ended (the Outcome constants):
	// for metrics (rtotel's Instrumentation.IdempotencyOutcome). It is
	// called after the answer was written, on the request's goroutine,
	// before the store is tidied after a failure; for a handler that
	// panicked, before the panic goes on. Requests that the middleware
	// passes through untouched (methods not covered, no key when keys are
	// optional) are not reported. It must be safe for concurrent use.
	OnOutcome func(*http.Request, Outcome)
}

func (o Options) withDefaults() Options {
	if o.TTL < 0 || o.Lease < 0 || o.MaxRequestBytes < 0 || o.MaxResponseBytes < 0 || o.RetryAfter < 0 {
		panic("idempotency: Options: negative duration or size")
	}
	if o.Store == nil {
		o.Store = NewMemoryStore(0, 0)
	}
	if o.Methods == nil {
		o.Methods = []string{http.MethodPost, http.MethodPatch}
	}
	if o.Scope == nil {
		o.Scope = CallerScope(nil)
	}
	private := []string{"Set-Cookie"}
	for _, name := range o.PrivateHeaders {
		private = append(private, http.CanonicalHeaderKey(name))
	}
	o.PrivateHeaders = private
	if o.ProblemBase == "" {
		o.ProblemBase = ProblemBase
	}
	if o.Header == "" {
		o.Header = DefaultHeader
	}
	o.Header = http.CanonicalHeaderKey(o.Header)
	o.TTL = cmp.Or(o.TTL, DefaultTTL)
	o.Lease = cmp.Or(o.Lease, DefaultLease)
	o.MaxRequestBytes = cmp.Or(o.MaxRequestBytes, DefaultMaxRequestBytes)
	o.MaxResponseBytes = cmp.Or(o.MaxResponseBytes, DefaultMaxResponseBytes)
	o.RetryAfter = cmp.Or(o.RetryAfter, DefaultRetryAfter)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.TTL < o.Lease {
		panic(fmt.Sprintf("idempotency: Options: TTL %v shorter than Lease %v", o.TTL, o.Lease))
	}
	return o
}
