package chaos

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	htu "github.com/rtchain/rtchain/httptestutil"
)

// blob returns the deterministic body of GET /blob/{n}.
func blob(n int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

func hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// upstream is the server behind the proxy. It answers:
//
//	GET  /blob/{n}  n deterministic bytes, with their hash in X-Sha256, an
//	                ETag and ranges (a download that breaks off is resumed)
//	PUT  /obj/{id}  stores the body; answers the hash of what it received
//	POST /pay       an idempotent payment: applies once per Idempotency-Key,
//	                answers the hash of what it received
type upstream struct {
	*htu.Server
	pay *htu.IdempotentHandler

	mu      sync.Mutex
	stored  map[string]string // PUT id → hash of the last body stored
	applied map[string]int    // Idempotency-Key → payments applied
}

func newUpstream() *upstream {
	u := &upstream{stored: map[string]string{}, applied: map[string]int{}}
	u.pay = htu.Idempotent(http.HandlerFunc(u.charge))
	u.Server = htu.Start(http.HandlerFunc(u.serve))
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/blob/"):
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/blob/"))
		if err != nil || n < 0 || n > 1<<24 {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		b := blob(n)
		// As a file server or an object store answers: ranges, and a
		// strong ETag to resume by.
		w.Header().Set("X-Sha256", hash(b))
		w.Header().Set("Etag", `"`+hash(b)[:16]+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/obj/"):
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return // the upload was cut: nothing stored
		}
		u.mu.Lock()
		u.stored[r.URL.Path] = hash(b)
		u.mu.Unlock()
		_, _ = io.WriteString(w, hash(b))
	case r.Method == http.MethodPost && r.URL.Path == "/pay":
		u.pay.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (u *upstream) charge(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body) // Idempotent has read it whole already
	u.mu.Lock()
	u.applied[r.Header.Get("Idempotency-Key")]++
	u.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, hash(b))
}
