package rtgrpc

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// StreamClientInterceptor returns an interceptor that retries
// server-streaming calls by the rules of UnaryClientInterceptor, and only
// before the first message arrives (the commit point): once the caller has
// a message, a failure is the caller's, never replayed. A stream of any
// kind that could not be opened (grpc-go had no connection to open it on)
// sent nothing: it is opened again whatever the method, by the rules for a
// call that never left the client. Once open, client-streaming and
// bidirectional calls are the caller's, untouched: what the caller sent
// cannot be sent again by the interceptor. PerTryTimeout does not apply to
// streams (nor WithPerTryTimeout); the other call options do.
func StreamClientInterceptor(o ClientOptions) grpc.StreamClientInterceptor {
	c := newClient(o)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		target := cc.Target()
		co := callOptionsOf(opts)
		if desc.ClientStreams || !desc.ServerStreams {
			c.budget.Call(target)
			cs, _, err := c.open(ctx, &co, desc, cc, method, target, streamer, opts, 1)
			return cs, err
		}
		ctx = c.prepare(ctx)
		mayRepeat := co.repeatable || c.mayRepeat(ctx, method)
		c.budget.Call(target)
		ctx, cancel := context.WithCancel(ctx)
		cs, attempt, err := c.open(ctx, &co, desc, cc, method, target, streamer, opts, 1)
		if err != nil {
			cancel()
			return nil, err
		}
		return &retryStream{c: c, co: co, ctx: ctx, cancel: cancel, desc: desc, cc: cc, method: method,
			streamer: streamer, opts: opts, target: target, mayRepeat: mayRepeat, cur: cs, attempt: attempt}, nil
	}
}

// open opens a stream as attempt, and again while it cannot be opened and
// the rules allow: grpc-go returns an error from opening a stream only when
// it had none to send on, so nothing of the call left the client. It
// returns the stream and the attempt that opened it.
func (c *client) open(ctx context.Context, co *callOptions, desc *grpc.StreamDesc, cc *grpc.ClientConn, method, target string, streamer grpc.Streamer, opts []grpc.CallOption, attempt int) (grpc.ClientStream, int, error) {
	for first := attempt; ; attempt++ {
		c.attempted(method, attempt, attempt > first) // a stream not opened sent nothing
		actx := ctx
		if attempt > 1 {
			actx = metadata.AppendToOutgoingContext(ctx, "grpc-previous-rpc-attempts", strconv.Itoa(attempt-1))
		}
		cs, err := streamer(actx, desc, cc, method, opts...)
		if err == nil {
			return cs, attempt, nil
		}
		if !c.again(ctx, co, method, target, attempt, status.Convert(err), nil, false, true) {
			return nil, attempt, err
		}
	}
}

// retryStream is a server-streaming call that may start again until its
// first message has arrived.
type retryStream struct {
	c         *client
	co        callOptions // the call's own (WithMaxRetries...)
	ctx       context.Context
	cancel    context.CancelFunc
	desc      *grpc.StreamDesc
	cc        *grpc.ClientConn
	method    string
	streamer  grpc.Streamer
	opts      []grpc.CallOption
	target    string
	mayRepeat bool

	mu        sync.Mutex
	cur       grpc.ClientStream
	attempt   int
	sent      []any // the request (one, for a server stream)
	closed    bool  // CloseSend was called
	committed bool  // a message arrived: no more retries
}

func (s *retryStream) stream() grpc.ClientStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

func (s *retryStream) Header() (metadata.MD, error) { return s.stream().Header() }
func (s *retryStream) Trailer() metadata.MD         { return s.stream().Trailer() }
func (s *retryStream) Context() context.Context     { return s.stream().Context() }

func (s *retryStream) CloseSend() error {
	s.mu.Lock()
	s.closed = true
	cur := s.cur
	s.mu.Unlock()
	return cur.CloseSend()
}

func (s *retryStream) SendMsg(m any) error {
	s.mu.Lock()
	s.sent = append(s.sent, m)
	cur := s.cur
	s.mu.Unlock()
	return cur.SendMsg(m)
}

func (s *retryStream) RecvMsg(m any) error {
	for {
		cur := s.stream()
		err := cur.RecvMsg(m)
		s.mu.Lock()
		committed := s.committed
		if err == nil {
			s.committed = true
		}
		s.mu.Unlock()
		if err == nil || committed || errors.Is(err, io.EOF) {
			if err != nil {
				s.cancel()
			}
			return err
		}
		if !s.c.again(s.ctx, &s.co, s.method, s.target, s.attempt, status.Convert(err), cur.Trailer(), false, s.mayRepeat) {
			s.cancel()
			return err
		}
		if rerr := s.restart(); rerr != nil {
			s.cancel()
			return rerr
		}
	}
}

// restart opens the stream again and sends it what the first one was sent.
// A send that fails is not an answer: the next RecvMsg says what the
// stream ended with, and the rules apply to that.
func (s *retryStream) restart() error {
	s.mu.Lock()
	next := s.attempt + 1
	sent, closed := append([]any(nil), s.sent...), s.closed
	s.mu.Unlock()
	cs, attempt, err := s.c.open(s.ctx, &s.co, s.desc, s.cc, s.method, s.target, s.streamer, s.opts, next)
	s.mu.Lock()
	s.attempt = attempt
	s.mu.Unlock()
	if err != nil {
		return err
	}
	for _, m := range sent {
		if cs.SendMsg(m) != nil {
			break
		}
	}
	if closed {
		_ = cs.CloseSend()
	}
	s.mu.Lock()
	s.cur = cs
	s.mu.Unlock()
	return nil
}
