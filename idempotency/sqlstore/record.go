package sqlstore

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/rtchain/rtchain/idempotency"
)

// encodeHeader writes a stored response's header fields as JSON.
func encodeHeader(h http.Header) (string, error) {
	if len(h) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("sqlstore: header: %w", err)
	}
	return string(b), nil
}

// decodeResponse reads back a stored response. A row that does not hold
// one (a status out of range, header fields that are not a JSON object of
// string lists) is an error, never a panic or a half-read answer.
func decodeResponse(status int64, header string, body []byte, notStored bool) (*idempotency.Response, error) {
	if status < 100 || status > 999 {
		return nil, fmt.Errorf("stored status %d out of range", status)
	}
	resp := &idempotency.Response{Status: int(status), NotStored: notStored}
	if notStored {
		return resp, nil
	}
	var h http.Header
	if err := json.Unmarshal([]byte(header), &h); err != nil {
		return nil, fmt.Errorf("stored header fields: %w", err)
	}
	if len(h) > 0 {
		resp.Header = h
	}
	resp.Body = body
	return resp, nil
}
