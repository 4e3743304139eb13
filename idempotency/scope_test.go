package idempotency_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
)

// account answers with the account its credential names, and a session
// cookie: what one caller must never receive of another's.
func account(w http.ResponseWriter, r *http.Request, _ string) {
	acct := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	http.SetCookie(w, &http.Cookie{Name: "session", Value: acct + "-session-secret"})
	w.Header().Set("X-Account", acct)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"account":"`+acct+`"}`)
}

// By default a key belongs to the credentials that sent it: another
// caller's request with the same key and body runs for that caller, and
// never gets the first caller's answer or cookie.
func TestAKeyBelongsToItsCaller(t *testing.T) {
	p := payments{answer: account}
	srv := serve(t, idempotency.Options{}, &p)
	a := send(t, http.MethodPost, srv.URL+"/pay", "order-17", `{"n":1}`, "Authorization", "Bearer a")
	require.Equal(t, http.StatusCreated, a.status)
	assert.Contains(t, a.header.Get("Set-Cookie"), "a-session-secret", "the first run's client gets its cookie")

	b := send(t, http.MethodPost, srv.URL+"/pay", "order-17", `{"n":1}`, "Authorization", "Bearer b")
	assert.Equal(t, `{"account":"b"}`, b.body, "another account's request runs for it")
	assert.Empty(t, b.header.Get("Idempotent-Replayed"))
	anon := send(t, http.MethodPost, srv.URL+"/pay", "order-17", `{"n":1}`)
	assert.Equal(t, `{"account":""}`, anon.body, "a request without credentials is another caller")
	cookie := send(t, http.MethodPost, srv.URL+"/pay", "order-17", `{"n":1}`, "Cookie", "session=a-session-secret")
	assert.Empty(t, cookie.header.Get("Idempotent-Replayed"), "a cookie is a credential of its own")
	assert.Equal(t, int32(4), p.runs.Load())

	again := send(t, http.MethodPost, srv.URL+"/pay", "order-17", `{"n":1}`, "Authorization", "Bearer a")
	assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"), "the caller's own retry is replayed")
	assert.Equal(t, a.body, again.body)
	assert.Equal(t, "a", again.header.Get("X-Account"))
	assert.Empty(t, again.header.Values("Set-Cookie"), "Set-Cookie is never stored")
	assert.Equal(t, int32(4), p.runs.Load())
}

// A caller cannot take another's predictable key first: the owner's request
// still runs, where one scope for everyone answered it 422.
func TestAKeyCannotBeSquatted(t *testing.T) {
	var p payments
	srv := serve(t, idempotency.Options{}, &p)
	squat := send(t, http.MethodPost, srv.URL+"/pay", "invoice-2041", "other", "Authorization", "Bearer mallory")
	require.Equal(t, http.StatusCreated, squat.status)
	owner := send(t, http.MethodPost, srv.URL+"/pay", "invoice-2041", "100 EUR", "Authorization", "Bearer alice")
	assert.Equal(t, http.StatusCreated, owner.status)

	shared := serve(t, idempotency.Options{Scope: idempotency.OneScope}, &p)
	send(t, http.MethodPost, shared.URL+"/pay", "invoice-2041", "other", "Authorization", "Bearer mallory")
	r := send(t, http.MethodPost, shared.URL+"/pay", "invoice-2041", "100 EUR", "Authorization", "Bearer alice")
	assert.Equal(t, http.StatusUnprocessableEntity, r.status, "OneScope: every caller shares the keys")
}

// PrivateHeaders reach the first run's client and are never replayed.
func TestPrivateHeadersAreNotStored(t *testing.T) {
	p := payments{answer: func(w http.ResponseWriter, r *http.Request, _ string) {
		w.Header()["x-session-token"] = []string{"t0ken"} // not canonical: still private
		w.Header().Set("X-Request-Id", "r1")
		w.WriteHeader(http.StatusCreated)
	}}
	srv := serve(t, idempotency.Options{PrivateHeaders: []string{"X-Session-Token"}}, &p)
	first := send(t, http.MethodPost, srv.URL, "k", "x")
	assert.Equal(t, "t0ken", first.header.Get("X-Session-Token"))
	again := send(t, http.MethodPost, srv.URL, "k", "x")
	assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	assert.Empty(t, again.header.Get("X-Session-Token"))
	assert.Equal(t, "r1", again.header.Get("X-Request-Id"))
}

func TestScopeOf(t *testing.T) {
	assert.Empty(t, idempotency.ScopeOf(nil))
	plain := idempotency.ScopeOf(nil, []byte("Authorization"), []byte("Bearer a"))
	assert.Len(t, plain, 22)
	assert.NotContains(t, plain, "Bearer")
	assert.Equal(t, plain, idempotency.ScopeOf(nil, []byte("Authorization"), []byte("Bearer a")))
	assert.NotEqual(t, plain, idempotency.ScopeOf([]byte("s3cret"), []byte("Authorization"), []byte("Bearer a")),
		"a secret changes the hash")
	assert.NotEqual(t, idempotency.ScopeOf(nil, []byte("ab"), []byte("c")), idempotency.ScopeOf(nil, []byte("a"), []byte("bc")),
		"parts are delimited")

	req := httptest.NewRequest(http.MethodPost, "/", nil)
	assert.Empty(t, idempotency.CallerScope(nil)(req), "no credentials: the anonymous scope")
	req.Header.Set("X-Api-Key", "k1")
	k1 := idempotency.CallerScope(nil)(req)
	req.Header.Set("X-Api-Key", "k2")
	assert.NotEqual(t, k1, idempotency.CallerScope(nil)(req))
}

// A client certificate is a credential: two callers presenting different
// certificates on TLS connections do not share keys.
func TestClientCertificatesScopeKeys(t *testing.T) {
	var p payments
	ts := httptest.NewUnstartedServer(idempotency.Middleware(idempotency.Options{})(&p))
	ts.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	post := func(cert tls.Certificate) *http.Response {
		t.Helper()
		pool := x509.NewCertPool()
		pool.AddCert(ts.Certificate())
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}
		defer tr.CloseIdleConnections()
		req, err := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader("x"))
		require.NoError(t, err)
		req.Header.Set("Idempotency-Key", "k")
		resp, err := (&http.Client{Transport: tr}).Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	a, b := clientCert(t, "a"), clientCert(t, "b")
	assert.Empty(t, post(a).Header.Get("Idempotent-Replayed"))
	assert.Empty(t, post(b).Header.Get("Idempotent-Replayed"), "another certificate is another caller")
	assert.Equal(t, "true", post(a).Header.Get("Idempotent-Replayed"))
	assert.Equal(t, int32(2), p.runs.Load())
}

func clientCert(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	tmpl.Subject.CommonName = name
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
