package transport

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"
)

// Event streams that fail before their first content. An LLM API answers a
// streamed call 200 at once and may then, before it has sent a word, send an
// error event: Anthropic's overloaded_error, OpenAI's server_is_overloaded.
// A caller that got nothing yet could be sent the call again whole, but
// Retry has returned by then, and the SDK above it sees a 200. So Retry
// reads the start of such a stream itself, holding back the events that
// carry no content (message_start, ping, an empty first chunk), until the
// first event that does, which releases the stream untouched; an error event
// before it fails the attempt instead, and the rules decide its retry. From
// the first content on, every byte is the caller's, and so is any error.

// isEventStream reports whether resp is the start of an event stream that
// the hold may read: a 200 of text/event-stream, with a body, not encoded.
func isEventStream(resp *http.Response) bool {
	if resp.StatusCode != http.StatusOK || resp.Body == nil || resp.Body == http.NoBody {
		return false
	}
	const sse = "text/event-stream"
	ct := resp.Header.Get("Content-Type")
	if len(ct) < len(sse) || !strings.EqualFold(ct[:len(sse)], sse) {
		return false
	}
	if rest := ct[len(sse):]; rest != "" && rest[0] != ';' && rest[0] != ' ' {
		return false
	}
	ce := resp.Header.Get("Content-Encoding")
	return ce == "" || strings.EqualFold(ce, "identity")
}

// holdReadSize is the most one Read of the hold asks for.
const holdReadSize = 4 << 10

// holdEvents reads the start of a's response, an event stream, until its
// first event with content, an error event or a bound (see
// EventStreamOptions), and leaves a's response with a body that gives the
// caller every byte from the first. An error event sets a.stream. sent is
// when the attempt began (zero without a per-try timeout), perTry the
// attempt's per-try timeout. If the call's context ends, the attempt ends
// with its error.
//
// A Read cannot be bounded in time without closing the body, so the hold's
// Reads run on a goroutine each, one at a time: one left in flight by a
// bound is finished by the caller's first Read past the held bytes.
func (t *sender) holdEvents(ctx context.Context, a *attempt, sent time.Time, perTry time.Duration) {
	now := time.Now()
	until := now.Add(t.p.EventStream.Timeout)
	if perTry > 0 {
		until = earlier(until, sent.Add(perTry))
	}
	if deadline, ok := responseDeadline(ctx); ok {
		until = earlier(until, now.Add(deadline.Sub(now)/2))
	}
	if !until.After(now) {
		return
	}
	b := &heldBody{rc: a.resp.Body, buf: make([]byte, holdReadSize)}
	a.resp.Body = b
	reads := make(chan heldRead, 1) // buffered: a Read left in flight never blocks its goroutine
	timer := time.NewTimer(until.Sub(now))
	defer timer.Stop()
	var sc eventScanner
	limit := int(min(t.p.EventStream.Limit, 1<<40))
	for {
		go b.read(b.buf[:min(holdReadSize, limit-len(b.held))], reads)
		select {
		case r := <-reads:
			b.held = append(b.held, b.buf[:r.n]...)
			kind, serr := sc.scan(b.held)
			if kind != eventNone || r.err != nil || len(b.held) >= limit {
				a.stream, b.err = serr, r.err
				return
			}
		case <-timer.C:
			b.pending = reads // released as it is, a Read in flight
			return
		case <-ctx.Done():
			b.pending = reads
			_ = b.Close() // ends the Read in flight
			a.resp, a.err = nil, ctx.Err()
			return
		}
	}
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// heldBody is the body of an event stream whose start was held back: it
// gives the held bytes first, then what the Read the hold left in flight
// returns, if any, then the body below.
type heldBody struct {
	rc      io.ReadCloser
	buf     []byte        // the hold's Reads read into it
	held    []byte        // the stream's first bytes, not yet read by the caller
	pending chan heldRead // the result of a Read into buf still in flight; nil for none
	err     error         // what the body below returned to the hold, after held; sticky
}

// heldRead is the outcome of one Read of the hold.
type heldRead struct {
	n   int
	err error
}

// read reads rc into p, on a goroutine of its own, and sends the outcome.
func (b *heldBody) read(p []byte, out chan<- heldRead) {
	n, err := b.rc.Read(p)
	out <- heldRead{n, err}
}

func (b *heldBody) Read(p []byte) (int, error) {
	if len(b.held) == 0 && b.pending != nil {
		r := <-b.pending
		b.pending = nil
		b.held, b.err = b.buf[:r.n], r.err
	}
	if len(b.held) > 0 {
		n := copy(p, b.held)
		b.held = b.held[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.rc.Read(p)
}

// Close closes the body below, which ends a Read in flight.
func (b *heldBody) Close() error { return b.rc.Close() }
