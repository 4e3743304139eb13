package sqlstore_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/rtchain/rtchain/idempotency/sqlstore"
)

// FuzzDecodeResponse: whatever a row holds, reading it back gives a
// response or an error, never a panic; and what the store writes reads
// back the same.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(int64(201), `{"Content-Type":["application/json"],"X-Multi":["a","b"]}`, []byte(`{"id":1}`), false)
	f.Add(int64(200), `{}`, []byte{}, true)
	f.Add(int64(0), `null`, []byte(nil), false)
	f.Add(int64(500), `{"A":"not a list"}`, []byte("x"), false)
	f.Add(int64(1<<40), `[`, []byte("\x00\xff"), false)
	f.Fuzz(func(t *testing.T, status int64, header string, body []byte, notStored bool) {
		resp, err := sqlstore.DecodeResponse(status, header, body, notStored)
		if err != nil {
			return
		}
		if resp.Status < 100 || resp.Status > 999 {
			t.Fatalf("status %d accepted", resp.Status)
		}
		if notStored {
			return
		}
		enc, err := sqlstore.EncodeHeader(resp.Header)
		if err != nil {
			t.Fatal(err)
		}
		again, err := sqlstore.DecodeResponse(status, enc, body, false)
		if err != nil {
			t.Fatalf("what the store wrote does not read back: %v", err)
		}
		if !reflect.DeepEqual(http.Header(again.Header), http.Header(resp.Header)) {
			t.Fatalf("header %v read back as %v", resp.Header, again.Header)
		}
	})
}
