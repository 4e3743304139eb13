package idempotency

import (
	"strings"
	"testing"
)

// scopeOfKey reads back the scope of every key Middleware and rtgrpc
// write, and never panics on keys of another form.
func FuzzScopeOfKey(f *testing.F) {
	f.Add("tenant", "k", "")
	f.Add("", "k", "grpc/")
	f.Add("a:b", "12:x", "")
	f.Fuzz(func(t *testing.T, scope, key, prefix string) {
		if got := scopeOfKey(prefix + storeKey(scope, key)); (prefix == "" || prefix == "grpc/") && got != scope {
			t.Fatalf("scopeOfKey(%q) = %q, want %q", prefix+storeKey(scope, key), got, scope)
		}
		_ = scopeOfKey(prefix + key)
		if s := scopeOfKey(key); !strings.Contains(key, s) {
			t.Fatalf("scopeOfKey(%q) = %q, not in the key", key, s)
		}
	})
}
