package redisstore_test

import (
	"testing"

	"github.com/rtchain/rtchain/idempotency/redisstore"
)

// Whatever a record's fields hold (written by another version, by hand, or
// damaged), decoding it never panics, and never yields a response without
// a plausible status.
//
// Run: go test -run '^$' -fuzz FuzzDecode -fuzztime 2m .
func FuzzDecode(f *testing.F) {
	f.Add("owner", "fp", "201", `{"Content-Type":["text/plain"]}`, "body", "0", true)
	f.Add("owner", "fp", "", "", "", "", false)
	f.Add("", "fp", "200", "null", "", "1", true)
	f.Add("o", "f", "99", `{"a":"not a list"}`, "\x00", "1", true)
	f.Fuzz(func(t *testing.T, owner, fp, status, header, body, notStored string, done bool) {
		fields := map[string]string{"o": owner, "f": fp, "h": header, "b": body, "n": notStored}
		if done {
			fields["s"] = status
		}
		rec, err := redisstore.Decode(fields)
		if err != nil {
			return
		}
		if rec.Owner != owner || rec.Fingerprint != fp {
			t.Fatalf("owner/fingerprint changed: %+v", rec)
		}
		if done != (rec.Response != nil) {
			t.Fatalf("done %v, response %+v", done, rec.Response)
		}
		if r := rec.Response; r != nil && (r.Status < 100 || r.Status > 999) {
			t.Fatalf("status %d", r.Status)
		}
		if r := rec.Response; r != nil && r.NotStored && len(r.Body) > 0 {
			t.Fatal("a response not stored came with a body")
		}
	})
}
