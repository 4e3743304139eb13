package rtgrpc

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rtchain/rtchain/idempotency"
)

// ReplayedKey is the header metadata entry of a replayed answer.
const ReplayedKey = "idempotent-replayed"

// ServerOptions configures UnaryServerInterceptor. Its zero value means
// the HTTP middleware's defaults: an in-memory store, keys optional and
// read from the idempotency-key metadata and scoped by the caller's
// credentials (CallerScope), kept 24 h, a 1-minute lease,
// answers up to 1 MiB stored, a 1 s pushback.
type ServerOptions struct {
	// Store keeps the records: the same Store as the HTTP middleware's
	// (memory, redisstore, sqlstore), whose keys never meet HTTP's. nil
	// means idempotency.NewMemoryStore(0, 0). A TxStore (sqlstore) runs
	// the handler in its transaction, and answers after the commit.
	Store idempotency.Store
	// Key returns a request's key from the request itself (a request_id
	// field, say), "" for none. nil, or "", means the idempotency-key
	// metadata entry.
	Key func(ctx context.Context, req any) string
	// Scope returns the namespace of a request's key (a tenant), so that
	// keys of different scopes never meet: a stored answer is replayed
	// only within its scope. nil means CallerScope(nil), one scope per set
	// of credentials; OneScope puts every caller in one.
	Scope func(ctx context.Context) string
	// Required answers a call without a key InvalidArgument. By default it
	// runs unprotected.
	Required bool
	// TTL, Lease, MaxResponseBytes and RetryAfter are idempotency.Options'
	// (RetryAfter is the pushback of Aborted and Unavailable answers). 0
	// means the same defaults.
	TTL, Lease       time.Duration
	MaxResponseBytes int64
	RetryAfter       time.Duration
	// Logger receives store failures. nil means slog.Default().
	Logger *slog.Logger
	// OnReplay, when set, is called after a stored answer was replayed.
	// OnOutcome reports replays too (idempotency.OutcomeReplayed).
	OnReplay func(ctx context.Context, fullMethod string)
	// OnOutcome, when set, is called once for each call with a key (and
	// each without one, when Required), after the handler returned, with
	// how the call ended: the idempotency.Outcome values, for metrics
	// (rtotel's RPC.IdempotencyOutcome). Calls without a key that run
	// unprotected are not reported; a handler's panic is reported
	// (OutcomeReleased) before it goes on. As for HTTP, but: a request
	// that does not marshal is OutcomeUnreadableBody; a stored answer
	// that cannot be read, OutcomeStoreUnavailable; an answer over
	// MaxResponseBytes, or one that does not marshal, is kept as not
	// stored, OutcomeResponseTooLarge (its duplicates get
	// OutcomeNotStored), even with a TxStore; OutcomeBodyTooLarge and
	// OutcomeUnprotected never happen. It must be safe for concurrent
	// use.
	OnOutcome func(ctx context.Context, fullMethod string, outcome idempotency.Outcome)
}

func (o ServerOptions) withDefaults() ServerOptions {
	if o.TTL < 0 || o.Lease < 0 || o.MaxResponseBytes < 0 || o.RetryAfter < 0 {
		panic("rtgrpc: ServerOptions: negative duration or size")
	}
	if o.Store == nil {
		o.Store = idempotency.NewMemoryStore(0, 0)
	}
	if o.Scope == nil {
		o.Scope = CallerScope(nil)
	}
	o.TTL = cmp.Or(o.TTL, idempotency.DefaultTTL)
	o.Lease = cmp.Or(o.Lease, idempotency.DefaultLease)
	o.MaxResponseBytes = cmp.Or(o.MaxResponseBytes, idempotency.DefaultMaxResponseBytes)
	o.RetryAfter = cmp.Or(o.RetryAfter, idempotency.DefaultRetryAfter)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// UnaryServerInterceptor returns an interceptor that runs each keyed unary
// call once per key, across every instance that shares o.Store, and
// answers its duplicates with the stored answer (see the package doc's
// table).
func UnaryServerInterceptor(o ServerOptions) grpc.UnaryServerInterceptor {
	s := &server{o: o.withDefaults()}
	return s.intercept
}

type server struct{ o ServerOptions }

func (s *server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.o.OnOutcome == nil {
		var out idempotency.Outcome
		return s.serve(ctx, req, info, handler, &out)
	}
	var out idempotency.Outcome // "" for a call let through unkeyed
	defer func() {
		if out != "" {
			s.o.OnOutcome(ctx, info.FullMethod, out)
		}
	}()
	return s.serve(ctx, req, info, handler, &out)
}

// serve answers the call, and sets *out to its outcome; while the handler
// runs, to OutcomeReleased, what a panic ends with.
func (s *server) serve(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler, out *idempotency.Outcome) (any, error) {
	key, err := s.key(ctx, req)
	switch {
	case err != nil:
		*out = idempotency.OutcomeInvalidKey
		return nil, err
	case key == "" && s.o.Required:
		*out = idempotency.OutcomeMissingKey
		return nil, status.Error(codes.InvalidArgument, "an idempotency key is required for "+info.FullMethod)
	case key == "":
		return handler(ctx, req)
	}
	msg, ok := req.(proto.Message)
	if !ok {
		*out = idempotency.OutcomeUnreadableBody
		return nil, status.Error(codes.Internal, "rtgrpc: the request is not a protobuf message")
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		*out = idempotency.OutcomeUnreadableBody
		return nil, status.Error(codes.Internal, "rtgrpc: the request does not marshal: "+err.Error())
	}
	scope := s.o.Scope(ctx)
	storeKey := "grpc/" + strconv.Itoa(len(scope)) + ":" + scope + ":" + key
	rec := idempotency.Record{Owner: newToken(), Fingerprint: fingerprint(info.FullMethod, b)}
	existing, txn, acquired, err := s.begin(ctx, storeKey, rec)
	switch {
	case err != nil:
		s.o.Logger.ErrorContext(ctx, "rtgrpc: store failed", "error", err)
		*out = idempotency.OutcomeStoreUnavailable
		return nil, s.refuse(ctx, codes.Unavailable, "idempotency store unavailable")
	case !acquired:
		return s.answer(ctx, info.FullMethod, existing, rec.Fingerprint, out)
	}
	*out = idempotency.OutcomeReleased
	return s.run(ctx, req, info, handler, storeKey, rec.Owner, txn, out)
}

// key reads the call's key, and refuses a malformed one.
func (s *server) key(ctx context.Context, req any) (string, error) {
	var keys []string
	if s.o.Key != nil {
		if k := s.o.Key(ctx, req); k != "" {
			keys = []string{k}
		}
	}
	if keys == nil {
		md, _ := metadata.FromIncomingContext(ctx)
		keys = md.Get(KeyMetadata)
	}
	switch {
	case len(keys) == 0:
		return "", nil
	}
	key, ok := idempotency.ParseKey(keys[0])
	if len(keys) > 1 || !ok {
		return "", status.Error(codes.InvalidArgument,
			"one idempotency key of 1 to "+strconv.Itoa(idempotency.MaxKeyLength)+" printable ASCII characters")
	}
	return key, nil
}

func (s *server) begin(ctx context.Context, key string, rec idempotency.Record) (idempotency.Record, idempotency.Txn, bool, error) {
	if ts, ok := s.o.Store.(idempotency.TxStore); ok {
		existing, txn, err := ts.BeginTx(ctx, key, rec, s.o.Lease)
		return existing, txn, txn != nil, err
	}
	existing, acquired, err := s.o.Store.Begin(ctx, key, rec, s.o.Lease)
	return existing, nil, acquired, err
}

// refuse answers code with a pushback: nothing ran, so the client may send
// the call again whatever its method.
func (s *server) refuse(ctx context.Context, code codes.Code, msg string) error {
	ms := strconv.FormatInt(s.o.RetryAfter.Milliseconds(), 10)
	_ = grpc.SetTrailer(ctx, metadata.Pairs(PushbackKey, ms))
	return status.Error(code, msg)
}

// released are the codes after which the key is freed, as a 5xx frees an
// HTTP key: the failure may be gone on the next try.
var released = map[codes.Code]bool{
	codes.Unavailable: true, codes.ResourceExhausted: true, codes.Aborted: true, codes.DeadlineExceeded: true,
	codes.Internal: true, codes.Unknown: true, codes.DataLoss: true, codes.Canceled: true,
}

const storeTimeout = 5 * time.Second

// run runs the handler for the call that holds key, stores or releases the
// key by how it ended, and sets *out to the outcome.
func (s *server) run(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler, key, owner string, txn idempotency.Txn, out *idempotency.Outcome) (any, error) {
	detached := context.WithoutCancel(ctx)
	cw := newCapture(ctx, txn != nil)
	hctx := idempotency.Hold(grpc.NewContextWithServerTransportStream(ctx, cw), s.o.Store, key, owner, s.o.Lease, txn)
	if txn != nil {
		hctx = txn.Context(hctx)
	}
	finished := false
	defer func() {
		if !finished { // a panic: the key is free again, and the panic goes on
			s.release(detached, key, owner, txn)
		}
	}()
	reply, herr := handler(hctx, req)
	finished = true
	st := status.Convert(herr)
	if released[st.Code()] {
		s.release(detached, key, owner, txn)
		return reply, cw.deliver(herr)
	}
	resp, err := encode(reply, st, cw.header, cw.trailer, s.o.MaxResponseBytes)
	if err != nil {
		s.o.Logger.ErrorContext(ctx, "rtgrpc: answer not stored", "error", err)
		resp = &idempotency.Response{Status: statusBase + int(st.Code()), NotStored: true}
	}
	*out = idempotency.OutcomeFirstRun
	if resp.NotStored {
		*out = idempotency.OutcomeResponseTooLarge
	}
	cctx, cancel := context.WithTimeout(detached, storeTimeout)
	defer cancel()
	if txn != nil {
		if err := txn.Commit(cctx, resp, s.o.TTL); err != nil {
			s.o.Logger.ErrorContext(ctx, "rtgrpc: commit failed", "error", err)
			if errors.Is(err, idempotency.ErrLeaseLost) {
				*out = idempotency.OutcomeLeaseLost
				return nil, s.refuse(ctx, codes.Aborted, "a call with this idempotency key is in progress")
			}
			*out = idempotency.OutcomeStoreUnavailable
			return nil, s.refuse(ctx, codes.Unavailable, "the transaction did not commit")
		}
	} else if err := s.o.Store.Complete(cctx, key, owner, resp, s.o.TTL); err != nil {
		s.o.Logger.ErrorContext(ctx, "rtgrpc: answer not stored", "error", err)
		*out = idempotency.OutcomeStoreUnavailable
		if errors.Is(err, idempotency.ErrLeaseLost) {
			*out = idempotency.OutcomeLeaseLost
		}
	}
	return reply, cw.deliver(herr)
}

func (s *server) release(ctx context.Context, key, owner string, txn idempotency.Txn) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	var err error
	if txn != nil {
		err = txn.Rollback(ctx)
	} else {
		err = s.o.Store.Release(ctx, key, owner)
	}
	if err != nil {
		s.o.Logger.ErrorContext(ctx, "rtgrpc: key not released", "error", err)
	}
}

// answer replies to a duplicate from the record that holds its key, and
// sets *out to the outcome.
func (s *server) answer(ctx context.Context, method string, existing idempotency.Record, fp string, out *idempotency.Outcome) (any, error) {
	switch resp := existing.Response; {
	case existing.Fingerprint != fp:
		*out = idempotency.OutcomeKeyReused
		return nil, status.Error(codes.FailedPrecondition, "the idempotency key was used with another request")
	case resp == nil:
		*out = idempotency.OutcomeInProgress
		return nil, s.refuse(ctx, codes.Aborted, "a call with this idempotency key is in progress")
	case resp.NotStored:
		*out = idempotency.OutcomeNotStored
		return nil, status.Error(codes.FailedPrecondition,
			"the call was processed; its answer was too large to keep (code "+codes.Code(resp.Status-statusBase).String()+")")
	default:
		reply, err := decode(ctx, resp)
		if err != nil {
			s.o.Logger.ErrorContext(ctx, "rtgrpc: stored answer unreadable", "error", err)
			*out = idempotency.OutcomeStoreUnavailable
			return nil, status.Error(codes.Internal, "rtgrpc: the stored answer cannot be read")
		}
		*out = idempotency.OutcomeReplayed
		if s.o.OnReplay != nil {
			s.o.OnReplay(ctx, method)
		}
		return reply, statusErr(resp)
	}
}

func fingerprint(method string, req []byte) string {
	sum := sha256.Sum256(req)
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(method)) + ":" + method + ":"))
	h.Write(sum[:])
	return hex.EncodeToString(h.Sum(nil))
}

// newToken is a random 128-bit token in hex: an owner's, or a call's key.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
