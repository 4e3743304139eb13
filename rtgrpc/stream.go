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
// a message, a failure is the caller's, never replayed. Client-streaming
// and bidirectional calls pass through untouched: what the caller sent
// cannot be sent again by the interceptor. PerTryTimeout does not apply to
// streams.
func StreamClientInterceptor(o ClientOptions) grpc.StreamClientInterceptor {
	c := newClient(o)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if desc.ClientStreams || !desc.ServerStreams {
			return streamer(ctx, desc, cc, method, opts...)
		}
		ctx = c.prepare(ctx)
		mayRepeat := c.mayRepeat(ctx, method)
		target := cc.Target()
		c.budget.Call(target)
		ctx, cancel := context.WithCancel(ctx)
		s := &retryStream{c: c, ctx: ctx, cancel: cancel, desc: desc, cc: cc, method: method,
			streamer: streamer, opts: opts, target: target, mayRepeat: mayRepeat, attempt: 1}
		for {
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if err == nil {
				s.cur = cs
				return s, nil
			}
			if !c.again(ctx, method, target, s.attempt, status.Convert(err), nil, false, mayRepeat) {
				cancel()
				return nil, err
			}
			s.attempt++
		}
	}
}

// retryStream is a server-streaming call that may start again until its
// first message has arrived.
type retryStream struct {
	c         *client
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
		if !s.c.again(s.ctx, s.method, s.target, s.attempt, status.Convert(err), cur.Trailer(), false, s.mayRepeat) {
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
	for {
		s.mu.Lock()
		s.attempt++
		attempt := s.attempt
		sent, closed := append([]any(nil), s.sent...), s.closed
		s.mu.Unlock()
		ctx := metadata.AppendToOutgoingContext(s.ctx, "grpc-previous-rpc-attempts", strconv.Itoa(attempt-1))
		cs, err := s.streamer(ctx, s.desc, s.cc, s.method, s.opts...)
		if err == nil {
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
		if !s.c.again(s.ctx, s.method, s.target, attempt, status.Convert(err), nil, false, s.mayRepeat) {
			return err
		}
	}
}
