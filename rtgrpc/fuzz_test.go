package rtgrpc

import (
	"context"
	"net/http"
	"testing"

	"github.com/rtchain/rtchain/idempotency"
)

// FuzzStoredAnswer: whatever a record holds, replaying it gives an answer or
// an error, never a panic.
func FuzzStoredAnswer(f *testing.F) {
	f.Add(200, "grpc.testing.SimpleResponse", "", "", "h:x-a", "b", []byte{0x0a, 0x00})
	f.Add(205, "", "gone", "", "t:x-sig-bin", "AP8=", []byte(nil))
	f.Add(203, "", "bad", "not base64", "t:x-bin", "%%%", []byte("x"))
	f.Add(99, "no.Such", "", "", "", "", []byte("\xff"))
	f.Fuzz(func(t *testing.T, code int, typ, msg, details, mdKey, mdValue string, body []byte) {
		resp := &idempotency.Response{Status: code, Body: body, Header: http.Header{
			fieldType: {typ}, fieldMessage: {msg}, fieldDetails: {details}, mdKey: {mdValue}}}
		_, _ = decode(context.Background(), resp)
		_ = statusErr(resp)
	})
}
