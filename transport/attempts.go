package transport

import (
	"context"
	"errors"
	"net/http"
)

// The attempt count of a call that ended on a response travels with the
// response: in the context of resp.Request, a copy of the request the last
// attempt sent, made by Retry (and by Hedge for a hedged call). The caller's
// request is never touched, and a call that was not retried costs nothing.

type attemptsKey struct{}

// Attempts returns how many attempts were sent for the call that resp
// answers: 1 when it was not retried, 4 for a call that met a 503 four
// times and returned the last one (MaxRetries 3). A hedged call counts
// every attempt it sent, hedges and their retries included, as
// CallEndEvent.Attempts does. It returns 1 for a response that no Retry
// handled, and 0 for a nil resp.
//
// It is the count when the response was returned: a download resumed
// later, as its body is read, is told of through Trace.Resume. A call that
// ended on an error carries its count in the *RetryError (errors.As).
//
// Retry records the count on resp.Request, a shallow copy of the request
// the last attempt sent: a middleware outside Retry that replaces
// resp.Request hides it.
func Attempts(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	if resp.Request != nil {
		if n, ok := resp.Request.Context().Value(attemptsKey{}).(int); ok {
			return n
		}
	}
	return 1
}

// setAttempts records on resp that n attempts were sent for its call, in a
// copy of resp.Request (or of req, the call's request, when the transport
// below set none). It allocates only for n > 1, when the count is news.
func setAttempts(resp *http.Response, req *http.Request, n int) {
	if n <= 1 {
		return // 1 is what Attempts says of a response without a count
	}
	r := resp.Request
	if r == nil {
		r = req
	}
	resp.Request = r.WithContext(context.WithValue(r.Context(), attemptsKey{}, n))
}

// attemptsOf returns how many attempts the outcome of a call below sent: a
// response's count, a *RetryError's, or 1.
func attemptsOf(resp *http.Response, err error) int {
	if err == nil {
		return Attempts(resp)
	}
	var re *RetryError
	if errors.As(err, &re) {
		return re.Attempts
	}
	return 1
}
