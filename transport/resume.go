package transport

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resuming a download: a GET whose response body breaks off after the
// headers (a reset, an EOF before Content-Length) cannot be retried by the
// attempt loop, which has returned. When the server said the body can be
// asked for by ranges, of a version it can name (Accept-Ranges: bytes and a
// strong ETag, or a Last-Modified a second or more before its Date), the
// body Retry returns asks for the rest (Range: bytes=N-, If-Range: the
// validator) and goes on from there. Anything but a 206 of exactly the rest
// of the same version gives the caller the original error: never mixed
// bytes.

// resumable returns the validator to resume resp's body with, or "".
func resumable(req *http.Request, resp *http.Response) string {
	if req.Method != http.MethodGet || resp.StatusCode != http.StatusOK || resp.Body == nil ||
		resp.Body == http.NoBody || resp.Uncompressed || req.Header.Get("Range") != "" {
		return ""
	}
	if !hasToken(resp.Header.Values("Accept-Ranges"), "bytes") {
		return ""
	}
	if etag := resp.Header.Get("Etag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		return etag
	}
	// A date is a strong validator only if the resource cannot have changed
	// twice within it (RFC 9110 §8.8.2.2).
	lm := resp.Header.Get("Last-Modified")
	modified, err1 := http.ParseTime(lm)
	date, err2 := http.ParseTime(resp.Header.Get("Date"))
	if err1 == nil && err2 == nil && date.Sub(modified) >= time.Second {
		return lm
	}
	return ""
}

func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// resumeBody is the body of a resumable response: it reads the body of the
// latest response, and asks for the rest when that one breaks off.
type resumeBody struct {
	t         *sender
	req       *http.Request // the caller's
	trace     *Trace
	validator string
	total     int64 // the whole length, from the first response; -1 if unknown
	attempt   int   // the number of the latest attempt
	left      int   // resumes left: what the call had left of MaxRetries
	hb        *hostBudget

	mu     sync.Mutex // guards body and closed against a Close during a resume
	body   io.ReadCloser
	closed bool
	read   int64 // bytes delivered to the caller
}

func (b *resumeBody) Read(p []byte) (int, error) {
	for {
		b.mu.Lock()
		body := b.body
		b.mu.Unlock()
		n, err := body.Read(p)
		b.read += int64(n)
		if err == nil || err == io.EOF || !b.resumable(err) {
			return n, err
		}
		resumed := b.resume()
		b.trace.resume(ResumeEvent{Request: b.req, Offset: b.read, Err: err, Resumed: resumed})
		if !resumed {
			return n, err
		}
		if n > 0 {
			return n, nil // the rest comes from the next body
		}
	}
}

// resumable reports whether err, from reading the body, is worth a resume:
// the network's fault, while the caller still wants the body. A body closed
// while it was read (the stall timer ends a stalled Read so) is not.
func (b *resumeBody) resumable(err error) bool {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed || b.left <= 0 || b.req.Context().Err() != nil {
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || IsTransientError(err)
}

// resume asks for the rest of the body and, if the answer is exactly that,
// makes it the body to read. A request for the rest that fails on the way
// is tried again, after the backoff, while retries are left. It reports
// whether it resumed.
func (b *resumeBody) resume() bool {
	t := b.t
	ctx := b.req.Context()
	for b.left > 0 {
		if b.hb != nil && !t.budgets.withdrawRetry(b.hb) {
			return false
		}
		b.left--
		b.attempt++
		req := b.req.Clone(ctx)
		req.Header.Set("Range", "bytes="+strconv.FormatInt(b.read, 10)+"-")
		req.Header.Set("If-Range", b.validator)
		var a attempt
		t.try(&a, req, callFrom(req.Context()), nil, nil, nil, "", b.attempt, false)
		if a.err != nil {
			if !IsTransientError(a.err) || sleep(ctx, backoff(t.p.BaseDelay, t.p.MaxDelay, b.attempt)) != nil {
				return false
			}
			continue
		}
		if !b.isTheRest(a.resp) {
			a.discard(t.p.DrainLimit, t.p.DrainTimeout)
			return false
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.closed {
			_ = a.resp.Body.Close()
			return false
		}
		_ = b.body.Close()
		b.body = a.resp.Body
		return true
	}
	return false
}

// isTheRest reports whether resp is a 206 of the same version, from exactly
// where the caller's bytes end to the end.
func (b *resumeBody) isTheRest(resp *http.Response) bool {
	if resp.StatusCode != http.StatusPartialContent || resp.Uncompressed {
		return false
	}
	if v := resp.Header.Get("Etag"); v != "" && strings.HasPrefix(b.validator, `"`) && v != b.validator {
		return false
	}
	// All of the rest, and of the same length: a shorter range would end
	// the caller's body early.
	start, end, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
	return ok && start == b.read && total >= 0 && end == total-1 && (b.total < 0 || total == b.total)
}

// parseContentRange parses "bytes first-last/complete" (complete may be
// "*": -1).
func parseContentRange(v string) (first, last, complete int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	span, size, found := strings.Cut(rest, "/")
	a, z, found2 := strings.Cut(span, "-")
	if !found || !found2 {
		return 0, 0, 0, false
	}
	first, okA := parseDigits(a, maxQuotaValue)
	last, okZ := parseDigits(z, maxQuotaValue)
	complete = -1
	if size != "*" {
		var okS bool
		if complete, okS = parseDigits(size, maxQuotaValue); !okS || last >= complete {
			return 0, 0, 0, false
		}
	}
	return first, last, complete, okA && okZ && first <= last
}

// Close closes the body being read, once.
func (b *resumeBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	return b.body.Close()
}

// withResume wraps resp's body so that it resumes, when resp, the answer
// to the caller's req after attempts, can be resumed and the call has left
// retries; it returns resp. trace and hb are the call's.
func (t *sender) withResume(resp *http.Response, req *http.Request, trace *Trace, attempts, left int, hb *hostBudget) *http.Response {
	if t.p.NoResume || left <= 0 {
		return resp
	}
	validator := resumable(req, resp)
	if validator == "" {
		return resp
	}
	resp.Body = &resumeBody{t: t, req: req, trace: trace, validator: validator, total: resp.ContentLength,
		attempt: attempts, left: left, hb: hb, body: resp.Body}
	return resp
}

var _ io.ReadCloser = (*resumeBody)(nil)
