package transport

import (
	"bytes"
	"context"
	"encoding/json"
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

// Defaults of EventStreamOptions.
const (
	// DefaultEventStreamLimit is how many bytes of an event stream's start
	// are held back at most.
	DefaultEventStreamLimit = 64 << 10 // 64 KiB
	// DefaultEventStreamTimeout is how long an event stream's start is
	// held back at most.
	DefaultEventStreamTimeout = 10 * time.Second
)

// EventStreamOptions bounds how Retry holds back the start of an event
// stream: a 200 response whose Content-Type is text/event-stream, to a call
// that Retry could still send again. Its events that carry no content are
// held back until the first that does, or an error event, or a bound:
//
//   - an event with content (anything but the events below) releases the
//     stream: the caller reads it from its first byte, exactly as it came;
//   - no content: an event without data, a comment, Anthropic's ping and
//     message_start, OpenAI's response.created, response.queued and
//     response.in_progress, and a chat completion chunk whose choices carry
//     nothing but a role (the first chunk, "delta":{"role":"assistant",
//     "content":""});
//   - an error event (event: error, OpenAI's response.failed, or a chunk
//     whose JSON has an "error") fails the attempt: a refusal
//     (overloaded_error and rate_limit_error of Anthropic's, OpenAI's
//     server_is_overloaded, slow_down, rate_limit_exceeded and
//     service_unavailable_error, named by the error's code or type) is
//     retried whatever the method, as a 529 or 429 is; a failure of the
//     server's (api_error, timeout_error, server_error) only for a call that
//     may be sent again, as a 500 is (an idempotent method, an
//     Idempotency-Key, WithRepeatable); any other error, or a call that is
//     not retried, gets the stream as it came, the error event in it.
//
// A stream that reaches Limit bytes or Timeout without content, or ends, is
// released as it is, and so is one whose attempt meets its per-try timeout
// or half the time left to the call's deadline: the hold never takes the
// time the caller needs to read it. Other content types, other statuses and
// calls that cannot be retried are never touched.
type EventStreamOptions struct {
	// Limit bounds the bytes held back. 0 means DefaultEventStreamLimit; a
	// negative value turns the hold off: an error event then always
	// reaches the caller.
	Limit int64
	// Timeout bounds the time the stream is held back. 0 means
	// DefaultEventStreamTimeout.
	Timeout time.Duration
}

// StreamError is an error event that an event stream sent before any
// content (see EventStreamOptions), as a Classifier, a Trace or OnRetry
// sees it in Attempt.StreamError. The attempt's response is whole: when it
// is the one returned, the caller reads the stream, error event included,
// as the server sent it.
type StreamError struct {
	// Event is the event's name: "error", "response.failed", or "" for an
	// unnamed event (OpenAI's chat completion chunks).
	Event string
	// Type is the error's code or type as the API names it
	// ("overloaded_error", "server_is_overloaded"): its code when the rules
	// know it, else its type; "" when it names neither.
	Type string
	// Refusal reports that the error says the server turned the call down
	// before acting on it: retried whatever the method.
	Refusal bool
}

func (e *StreamError) Error() string {
	msg := "transport: event stream error before any content"
	if e.Type != "" {
		msg += ": " + e.Type
	}
	if e.Refusal {
		msg += " (a refusal)"
	}
	return msg
}

// isRefusalEvent reports whether an error event's code or type says that
// the server turned the call down: Anthropic's overloaded_error (its 529)
// and rate_limit_error (its 429), OpenAI's server_is_overloaded and
// slow_down (its 503s), rate_limit_exceeded (its 429) and
// service_unavailable_error. OpenAI's insufficient_quota, also a 429, is
// not: no retry can succeed.
func isRefusalEvent(typ string) bool {
	switch typ {
	case "overloaded_error", "rate_limit_error",
		"server_is_overloaded", "slow_down", "rate_limit_exceeded", "service_unavailable_error":
		return true
	}
	return false
}

// isTransientEvent reports whether an error event's code or type is a
// failure of the server's, a 500 or 504 in a stream: Anthropic's api_error
// and timeout_error, OpenAI's server_error. The server may have begun the
// work: only a call that may be sent again is retried.
func isTransientEvent(typ string) bool {
	switch typ {
	case "api_error", "timeout_error", "server_error":
		return true
	}
	return false
}

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

// eventKind is what an event is to the hold.
type eventKind int

const (
	eventNone    eventKind = iota // carries no content: held back
	eventContent                  // content: releases the stream
	eventError                    // an error event
)

// eventScanner reads the events of a stream's start (the
// text/event-stream format of the HTML standard: lines ended by CR, LF or
// CRLF, "field: value", a blank line ending each event), from where it
// stopped, as more of it arrives.
type eventScanner struct {
	off     int // where the first line not yet ended starts
	afterCR bool
	name    string // the event being read
	data    []byte
}

// scan reads the lines of held past those it read before, and returns what
// the first event with content or an error is; eventNone when there is none
// yet.
func (s *eventScanner) scan(held []byte) (eventKind, *StreamError) {
	for {
		rest := held[s.off:]
		if s.afterCR && len(rest) > 0 {
			s.afterCR = false
			if rest[0] == '\n' { // the LF of a CRLF
				s.off++
				continue
			}
		}
		i := bytes.IndexAny(rest, "\r\n")
		if i < 0 {
			return eventNone, nil
		}
		line := rest[:i]
		s.off += i + 1
		s.afterCR = rest[i] == '\r'
		if len(line) == 0 { // the end of an event
			name, data := s.name, bytes.TrimSuffix(s.data, []byte("\n"))
			s.name, s.data = "", s.data[:0]
			if len(data) == 0 {
				continue // no data: nothing is dispatched
			}
			if kind, serr := classifyEvent(name, data); kind != eventNone {
				return kind, serr
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			s.name = string(value)
		case "data":
			s.data = append(append(s.data, value...), '\n')
		}
	}
}

// classifyEvent says what an event named name with data is (see
// EventStreamOptions): no content, content, or an error.
func classifyEvent(name string, data []byte) (eventKind, *StreamError) {
	switch name {
	case "ping", "message_start", "response.created", "response.queued", "response.in_progress":
		return eventNone, nil
	case "error", "response.failed":
		return eventError, streamError(name, data)
	case "", "message": // unnamed: OpenAI's chat completion chunks
		return chunkEvent(data)
	}
	return eventContent, nil
}

// chunkEvent says what an unnamed event is: an error when its JSON has an
// "error" (as openai-go reads it), no content when it is a chat completion
// chunk whose choices carry nothing but a role, and content otherwise,
// whenever it cannot tell.
func chunkEvent(data []byte) (eventKind, *StreamError) {
	var c struct {
		Error   json.RawMessage `json:"error"`
		Choices json.RawMessage `json:"choices"`
		Usage   json.RawMessage `json:"usage"`
	}
	if json.Unmarshal(data, &c) != nil {
		return eventContent, nil
	}
	if !isEmptyJSON(c.Error) {
		return eventError, streamError("", data)
	}
	var choices []map[string]json.RawMessage
	if c.Choices == nil || !isEmptyJSON(c.Usage) || json.Unmarshal(c.Choices, &choices) != nil {
		return eventContent, nil
	}
	for _, choice := range choices {
		for k, v := range choice {
			switch k {
			case "index":
			case "delta":
				var delta map[string]json.RawMessage
				if json.Unmarshal(v, &delta) != nil {
					return eventContent, nil
				}
				for dk, dv := range delta {
					if dk != "role" && !isEmptyJSON(dv) {
						return eventContent, nil
					}
				}
			default: // finish_reason, logprobs, and what is not known
				if !isEmptyJSON(v) {
					return eventContent, nil
				}
			}
		}
	}
	return eventNone, nil
}

// isEmptyJSON reports whether v is absent, null, or an empty string, array
// or object.
func isEmptyJSON(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "", "null", `""`, "[]", "{}":
		return true
	}
	return false
}

// streamError reads the code and type of an error event's JSON: its
// "error" object (Anthropic's, OpenAI's chunks and Responses events), the
// "error" of its "response" (OpenAI's response.failed), or its own "code"
// (OpenAI's flat error event). Data that is not such JSON still makes an
// error event, of no known type.
func streamError(name string, data []byte) *StreamError {
	var e struct {
		Code     json.RawMessage `json:"code"`
		Error    json.RawMessage `json:"error"`
		Response json.RawMessage `json:"response"`
	}
	_ = json.Unmarshal(data, &e)
	var inner struct {
		Code json.RawMessage `json:"code"`
		Type json.RawMessage `json:"type"`
	}
	obj := e.Error
	if isEmptyJSON(obj) && !isEmptyJSON(e.Response) {
		var r struct {
			Error json.RawMessage `json:"error"`
		}
		_ = json.Unmarshal(e.Response, &r)
		obj = r.Error
	}
	_ = json.Unmarshal(obj, &inner)
	se := &StreamError{Event: name}
	for _, v := range []json.RawMessage{inner.Code, inner.Type, e.Code} {
		var s string
		if json.Unmarshal(v, &s) != nil || s == "" {
			continue
		}
		if isRefusalEvent(s) || isTransientEvent(s) {
			se.Type, se.Refusal = s, isRefusalEvent(s)
			return se
		}
		if se.Type == "" {
			se.Type = s
		}
	}
	return se
}
