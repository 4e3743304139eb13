package transport

import (
	"errors"
	"fmt"
	"strings"
)

// net/http does not export its HTTP/2 error types, so they are recognised by
// type name and by the reset code in their message.

// http2TransientCodes are the stream reset codes worth a retry: the server
// refused the stream or failed or cancelled it, or asked the client to slow
// down. Protocol, flow-control and framing errors are not transient.
var http2TransientCodes = []string{"REFUSED_STREAM", "INTERNAL_ERROR", "CANCEL", "ENHANCE_YOUR_CALM"}

// isHTTP2Transient reports whether err is an HTTP/2 failure worth a retry: a
// stream reset with a transient code, a GOAWAY, or a lost connection.
func isHTTP2Transient(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch fmt.Sprintf("%T", e) {
		case "http.http2StreamError":
			msg := e.Error()
			for _, code := range http2TransientCodes {
				if strings.Contains(msg, "; "+code) {
					return true
				}
			}
			return false
		case "http.http2GoAwayError":
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "http2: client connection lost") ||
		strings.Contains(msg, "http2: client conn is closed") ||
		strings.Contains(msg, "http2: Transport received Server's graceful shutdown GOAWAY")
}

// isRefusedStream reports whether the server reset the stream with
// REFUSED_STREAM, which RFC 9113 §8.7 guarantees means it did not process
// the request: any method may then be retried.
func isRefusedStream(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if fmt.Sprintf("%T", e) == "http.http2StreamError" {
			return strings.Contains(e.Error(), "; REFUSED_STREAM")
		}
	}
	return false
}
