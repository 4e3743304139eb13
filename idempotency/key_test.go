package idempotency_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/idempotency"
)

func TestParseKey(t *testing.T) {
	for _, c := range []struct {
		in, key string
		ok      bool
	}{
		{`8e03978e-40d5`, "8e03978e-40d5", true},
		{`"8e03978e-40d5"`, "8e03978e-40d5", true},
		{`"a \"quoted\" \\ key"`, `a "quoted" \ key`, true},
		{`a"b`, `a"b`, true}, // bare: printable ASCII, as Stripe-style clients send it
		{`""`, "", false},
		{`"`, "", false},
		{`"abc`, "", false},
		{`"a"b"`, "", false},
		{`"a\b"`, "", false},
		{`"a\"`, "", false},
		{`"` + "\x01" + `"`, "\x01", false},
		{`"` + strings.Repeat("k", idempotency.MaxKeyLength) + `"`, strings.Repeat("k", idempotency.MaxKeyLength), true},
		{`"` + strings.Repeat("k", idempotency.MaxKeyLength+1) + `"`, strings.Repeat("k", idempotency.MaxKeyLength+1), false},
	} {
		key, ok := idempotency.ParseKey(c.in)
		assert.Equal(t, c.ok, ok, c.in)
		if c.ok {
			assert.Equal(t, c.key, key, c.in)
		}
	}
}

// The draft's quoted key and the bare one that most clients send name the
// same key: a retry that changes form is a duplicate, not a second run.
func TestQuotedAndBareKeysAreOne(t *testing.T) {
	var p payments
	srv := serve(t, idempotency.Options{}, &p)
	first := send(t, http.MethodPost, srv.URL, `"8e03978e-40d5"`, "x")
	again := send(t, http.MethodPost, srv.URL, `8e03978e-40d5`, "x")
	assert.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	assert.Equal(t, int32(1), p.runs.Load())
	bad := send(t, http.MethodPost, srv.URL, `"8e03978e-40d5`, "x")
	assert.Equal(t, http.StatusBadRequest, bad.status)
	assert.Equal(t, idempotency.ProblemInvalidKey, problemType(t, bad))
}

// Problem types can point to the service's own documentation.
func TestProblemBaseOption(t *testing.T) {
	srv := serve(t, idempotency.Options{Required: true, ProblemBase: "https://api.example/docs/errors#"}, &payments{})
	r := send(t, http.MethodPost, srv.URL, "", "x")
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.body, `"type":"https://api.example/docs/errors#missing-key"`)
}

// ParseKey never panics, accepts only keys ValidKey accepts, and reads the
// quoted form of any key it accepts bare as that key.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`k`, `"k"`, `"a\"b"`, `"a\\b"`, `"`, `""`, `"a\`, `a"b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		key, ok := idempotency.ParseKey(v)
		if !ok {
			return
		}
		if !idempotency.ValidKey(key) {
			t.Fatalf("ParseKey(%q) accepted %q, which ValidKey refuses", v, key)
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key) + `"`
		if len(key) <= idempotency.MaxKeyLength {
			if k2, ok2 := idempotency.ParseKey(quoted); !ok2 || k2 != key {
				t.Fatalf("the quoted form %q of %q reads as %q, %v", quoted, key, k2, ok2)
			}
		}
	})
}
