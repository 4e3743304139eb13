package transport

import (
	"bytes"
	"encoding/json"
)

// What an event stream's events say: the scanner that reads them as they
// arrive, and the error that an error event before any content makes of an
// attempt (see EventStreamOptions).

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
