package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Middleware returns a middleware that runs each keyed request once per key
// and scope, across every instance that shares o.Store. By default the
// scope is the caller's credentials (CallerScope): a stored answer is
// replayed only to the caller who caused it.
//
//   - A covered request (POST, PATCH) with a new key takes the key's lease,
//     runs the handler, streams its response to the client as it is written
//     and stores it (status, header fields but Set-Cookie and
//     Options.PrivateHeaders, body).
//   - The same key with the same request gets the stored response, byte for
//     byte, with Idempotent-Replayed: true; the handler does not run.
//   - The same key while the first is still running: 409 with Retry-After.
//   - The same key with another request (method, path, query, body or
//     scope differ): 422. A malformed key (empty, over MaxKeyLength bytes,
//     not printable ASCII, a broken quoted string, or the header twice):
//     400; a missing one: 400 when Options.Required. The draft's quoted
//     form and the bare form name the same key (ParseKey).
//   - A 5xx from the handler, a 429 (a refusal: the handler did not act,
//     and the client's contract retries it), or a panic (re-raised),
//     releases the key, so that the client's retry runs the handler again.
//     2xx, 3xx and other 4xx are stored.
//   - A response body over MaxResponseBytes is delivered but not stored; a
//     duplicate gets 410, never a second run.
//   - A request body over MaxRequestBytes, or over the limit of an outer
//     http.MaxBytesHandler: 413, before anything runs; a body that cannot be
//     read otherwise: 400.
//   - The store failing: 503 with Retry-After, unless Options.FailOpen.
//   - A Store that is a TxStore runs the handler in its transaction and
//     answers after the commit (see TxStore).
//
// Each covered request's Outcome goes to Options.OnOutcome, for metrics.
// Error answers are RFC 9457 problem+json (see ProblemBase). The handler
// sees the request body intact, read from memory. Middleware panics on
// negative options.
func Middleware(opts Options) func(http.Handler) http.Handler {
	o := opts.withDefaults()
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("idempotency: Middleware: nil handler")
		}
		return &handler{next: next, o: o}
	}
}

type handler struct {
	next http.Handler
	o    Options
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !slices.Contains(h.o.Methods, r.Method) {
		h.next.ServeHTTP(w, r)
		return
	}
	keys := r.Header.Values(h.o.Header)
	switch {
	case len(keys) == 0 && h.o.Required:
		h.problem(w, http.StatusBadRequest, ProblemMissingKey, h.o.Header+" is required for "+r.Method, 0)
		h.report(r, OutcomeMissingKey)
		return
	case len(keys) == 0:
		h.next.ServeHTTP(w, r)
		return
	}
	ikey, ok := ParseKey(keys[0])
	if len(keys) > 1 || !ok {
		h.problem(w, http.StatusBadRequest, ProblemInvalidKey,
			"one key of 1 to "+strconv.Itoa(MaxKeyLength)+" printable ASCII characters, bare or as a structured-field string", 0)
		h.report(r, OutcomeInvalidKey)
		return
	}
	body, err := readBody(r.Body, h.o.MaxRequestBytes)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, errTooLarge):
		h.problem(w, http.StatusRequestEntityTooLarge, ProblemBodyTooLarge,
			"at most "+strconv.FormatInt(h.o.MaxRequestBytes, 10)+" bytes", 0)
		h.report(r, OutcomeBodyTooLarge)
		return
	case errors.As(err, &tooLarge):
		// An outer http.MaxBytesHandler's limit, not ours: still 413, never
		// an empty 200 from a handler that did not run.
		h.problem(w, http.StatusRequestEntityTooLarge, ProblemBodyTooLarge,
			"at most "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes", 0)
		h.report(r, OutcomeBodyTooLarge)
		return
	case err != nil:
		// Nothing ran. A client that went away reads nothing of this; any
		// other reader of the answer learns that its body did not arrive.
		h.problem(w, http.StatusBadRequest, ProblemUnreadableBody, "the request body could not be read", 0)
		h.report(r, OutcomeUnreadableBody)
		return
	}
	scope := h.o.Scope(r)
	key := storeKey(scope, ikey)
	rec := Record{Owner: newToken(), Fingerprint: fingerprint(r, body, scope)}
	existing, txn, acquired, err := h.begin(r.Context(), key, rec)
	switch {
	case err != nil && h.o.FailOpen:
		h.o.Logger.WarnContext(r.Context(), "idempotency: store failed; running unprotected", "error", err)
		h.unprotected(w, r, body)
		h.abandon(r.Context(), w, key, rec.Owner, err)
	case err != nil:
		h.o.Logger.ErrorContext(r.Context(), "idempotency: store failed", "error", err)
		h.problem(w, http.StatusServiceUnavailable, ProblemStoreUnavailable, "", h.o.RetryAfter)
		h.report(r, OutcomeStoreUnavailable)
		h.abandon(r.Context(), w, key, rec.Owner, err)
	case !acquired:
		h.report(r, h.answer(w, r, existing, rec.Fingerprint))
	default:
		c := &claim{store: h.o.Store, lease: h.o.Lease, logger: h.o.Logger, key: key, owner: rec.Owner, txn: txn}
		h.runReported(w, r, withBody(context.WithValue(r.Context(), claimKey{}, c), r, body), c)
	}
}

// unprotected runs the handler without a key, and reports it, whether
// the handler returns or panics.
func (h *handler) unprotected(w http.ResponseWriter, r *http.Request, body []byte) {
	defer h.report(r, OutcomeUnprotected)
	h.next.ServeHTTP(w, withBody(r.Context(), r, body))
}

// runReported runs the handler for r, which holds c's key, as run (or
// runTx, in c's transaction) does, and reports the outcome; a panic of the
// handler is reported as OutcomeReleased before it goes on.
func (h *handler) runReported(w http.ResponseWriter, r, hr *http.Request, c *claim) {
	outcome := OutcomeReleased
	defer func() { h.report(r, outcome) }()
	if c.txn != nil {
		outcome = h.runTx(w, hr, c)
	} else {
		outcome = h.run(w, hr, c.key, c.owner)
	}
}

// begin acquires key with the store's BeginTx when it is a TxStore (txn is
// then the run's transaction), or with Begin.
func (h *handler) begin(ctx context.Context, key string, rec Record) (existing Record, txn Txn, acquired bool, err error) {
	if ts, ok := h.o.Store.(TxStore); ok {
		existing, txn, err = ts.BeginTx(ctx, key, rec, h.o.Lease)
		return existing, txn, txn != nil, err
	}
	existing, acquired, err = h.o.Store.Begin(ctx, key, rec, h.o.Lease)
	return existing, nil, acquired, err
}

// answer replies to a duplicate from the record that holds its key, and
// returns the outcome.
func (h *handler) answer(w http.ResponseWriter, r *http.Request, existing Record, fp string) Outcome {
	resp := existing.Response
	switch {
	case existing.Fingerprint != fp:
		h.problem(w, http.StatusUnprocessableEntity, ProblemKeyReused, "", 0)
		return OutcomeKeyReused
	case resp == nil:
		h.problem(w, http.StatusConflict, ProblemKeyInUse, "", h.o.RetryAfter)
		return OutcomeInProgress
	case resp.NotStored:
		h.problem(w, http.StatusGone, ProblemResponseNotStored,
			"the original answer was "+strconv.Itoa(resp.Status), 0)
		return OutcomeNotStored
	default:
		dst := w.Header()
		for k, vs := range resp.Header {
			dst[k] = slices.Clone(vs)
		}
		dst.Set("Idempotent-Replayed", "true")
		w.WriteHeader(resp.Status)
		_, _ = w.Write(resp.Body)
		if h.o.OnReplay != nil {
			h.o.OnReplay(r)
		}
		return OutcomeReplayed
	}
}

// run runs the handler for the request that holds key, stores or releases
// the key by what it answered, and returns the outcome.
func (h *handler) run(w http.ResponseWriter, r *http.Request, key, owner string) Outcome {
	cw := &capture{w: w, max: h.o.MaxResponseBytes}
	ctx := context.WithoutCancel(r.Context())
	defer func() {
		if p := recover(); p != nil {
			h.release(ctx, key, owner)
			panic(p)
		}
	}()
	h.next.ServeHTTP(cw, r)
	resp := cw.response()
	if frees(resp.Status) {
		h.release(ctx, key, owner)
		return OutcomeReleased
	}
	err := h.complete(ctx, key, owner, h.storable(resp))
	switch {
	case errors.Is(err, ErrLeaseLost):
		return OutcomeLeaseLost
	case err != nil:
		return OutcomeStoreUnavailable
	case resp.NotStored:
		return OutcomeResponseTooLarge
	}
	return OutcomeFirstRun
}

// storable is resp as the store keeps it: without the private header
// fields, which only the first run's client receives.
func (h *handler) storable(resp *Response) *Response {
	if resp.Header == nil {
		return resp
	}
	out := *resp
	out.Header = make(http.Header, len(resp.Header))
	for k, vs := range resp.Header {
		if !slices.Contains(h.o.PrivateHeaders, http.CanonicalHeaderKey(k)) {
			out.Header[k] = vs
		}
	}
	return &out
}

// frees reports whether a handler's answer with this status releases its
// key instead of being stored: a 5xx (the handler failed) or a 429 (it
// refused: nothing was done, and a retry must run it, not meet the refusal
// stored for the key's TTL).
func frees(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests
}

// pause waits for d, and reports false if ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ValidKey reports whether k is an acceptable key: 1 to MaxKeyLength bytes
// of printable ASCII (space included, control characters not).
func ValidKey(k string) bool {
	if k == "" || len(k) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// ParseKey returns the key an Idempotency-Key field value names, and
// whether it is acceptable. The IETF draft writes the key as a
// structured-field string ("8e03978e-40d5"), most clients (Stripe's
// among them) send it bare (8e03978e-40d5): both forms name the same key.
// A value that begins with a double quote must be a whole, well-formed
// string (escapes \" and \\ only); the key inside, or the bare value, must
// pass ValidKey.
func ParseKey(v string) (string, bool) {
	if !strings.HasPrefix(v, `"`) {
		return v, ValidKey(v)
	}
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if !strings.ContainsAny(inner, `"\`) {
		return inner, ValidKey(inner)
	}
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		switch c := inner[i]; c {
		case '"':
			return "", false // only escaped inside a string
		case '\\':
			if i+1 == len(inner) || (inner[i+1] != '"' && inner[i+1] != '\\') {
				return "", false
			}
			i++
			b.WriteByte(inner[i])
		default:
			b.WriteByte(c)
		}
	}
	k := b.String()
	return k, ValidKey(k)
}

var errTooLarge = errors.New("idempotency: request body too large")

// readBody reads all of body, up to max bytes.
func readBody(body io.ReadCloser, max int64) ([]byte, error) {
	if body == nil || body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errTooLarge
	}
	return b, nil
}

// withBody returns a copy of r with ctx, whose body reads body.
func withBody(ctx context.Context, r *http.Request, body []byte) *http.Request {
	r2 := r.WithContext(ctx)
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	return r2
}

// fingerprint identifies a request: what must be the same for a duplicate.
func fingerprint(r *http.Request, body []byte, scope string) string {
	bodySum := sha256.Sum256(body)
	h := sha256.New()
	for _, part := range []string{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, scope, hex.EncodeToString(bodySum[:])} {
		h.Write([]byte(strconv.Itoa(len(part))))
		h.Write([]byte{':'})
		h.Write([]byte(part))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// storeKey is the key's name in the store: scoped, and unambiguous whatever
// the scope contains.
func storeKey(scope, key string) string {
	return strconv.Itoa(len(scope)) + ":" + scope + ":" + key
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
