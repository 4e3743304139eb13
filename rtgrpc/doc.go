// Package rtgrpc is rtchain for gRPC: client interceptors that retry by the
// same contract as transport.Retry, and a server interceptor that runs each
// keyed call once over the same idempotency.Store as the HTTP middleware
// (memory, idempotency/redisstore, idempotency/sqlstore: one store, both
// protocols). It is a module of its own, so that grpc and protobuf stay out
// of rtchain's main module.
//
// Entry points: UnaryClientInterceptor and StreamClientInterceptor
// (ClientOptions, RetryEvent, GiveUpEvent, AttemptEvent), with per-call
// grpc.CallOptions (WithMaxRetries, WithPerTryTimeout, WithRetryable,
// WithRepeatable); UnaryServerInterceptor
// (ServerOptions); OverloadUnaryServerInterceptor (OverloadOptions), which
// sheds what the server cannot serve in time with overload's Limiter, before
// UnaryServerInterceptor takes a key.
//
// The client retries a call that never left it (no connection could be
// had, as when the server's port refuses: grpc-go opened no stream) for any
// method, when it ended Unavailable, or DeadlineExceeded by the attempt's
// own timeout; a refusal (ResourceExhausted, or any of Unavailable, Aborted
// and ResourceExhausted with grpc-retry-pushback-ms) for any method;
// Unavailable, and DeadlineExceeded when the attempt's own timeout fired,
// only for a method that may be sent twice (its descriptor's
// idempotency_level, the health protocol's methods,
// ClientOptions.Idempotent, or an idempotency-key on the call), since gRPC
// also ends a call Unavailable when its connection broke after the request
// went out; nothing else. Server-streaming calls are retried only before
// their first message; client-streaming and bidirectional calls only while
// they cannot be opened.
//
// The server's answers:
//
//	the call                                   the answer
//	a new key                                  the handler runs; OK, or an error below, is stored with
//	                                           the reply's bytes and the header and trailer metadata
//	the same key and request again             the stored answer, with idempotent-replayed: true in
//	                                           the header metadata; the handler does not run
//	the same key while the first runs          Aborted + grpc-retry-pushback-ms (the client retries it)
//	the same key, another method or request    FailedPrecondition
//	a malformed key; none, when Required       InvalidArgument
//	the store fails                            Unavailable + grpc-retry-pushback-ms: nothing ran
//	the handler ends Unavailable,              the key is released, for the retry to run again
//	ResourceExhausted, Aborted,                (a panic too, and the panic goes on)
//	DeadlineExceeded, Internal, Unknown,
//	DataLoss or Canceled
//	an answer over MaxResponseBytes            delivered, not stored: a duplicate gets
//	                                           FailedPrecondition, never a second run
//	a TxStore's commit fails                   Unavailable + pushback (Aborted for a lost lease),
//	                                           and nothing of the run is sent
//
// The key comes from the idempotency-key metadata entry, or from the
// request itself (ServerOptions.Key: a request_id field, say).
// It belongs to its caller: by default keys are scoped by the caller's
// credentials (CallerScope), so a stored answer is replayed only to the
// caller who caused it, and set-cookie metadata is never stored.
// A handler fences an effect outside the store with idempotency.Confirm, as
// an HTTP handler does, and writes through sqlstore.Tx when the store is
// sqlstore's.
package rtgrpc
