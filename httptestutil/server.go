package httptestutil

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Request is what the server recorded of one request it received.
type Request struct {
	Method string
	URL    *url.URL
	Header http.Header
	// Body is every byte of the request body that the step read: all of it
	// for the steps that answer, the first n for ReadThen.
	Body []byte
	// BodyErr is the error that reading the body ended with, if not EOF.
	BodyErr error
	// At is when the request's headers arrived.
	At time.Time
	// Conn numbers the connection the request came on, from 1, in the order
	// connections were opened.
	Conn int
}

// Server is an httptest.Server that answers each request with the next step
// of a script and records what it received. A script's last step repeats.
// It is safe for concurrent requests.
type Server struct {
	*httptest.Server

	closing context.Context // ends when Close is called
	stop    context.CancelFunc

	mu      sync.Mutex
	scripts map[string]*script // by path; "" is the default script
	reqs    []*Request
	conns   int
}

type script struct {
	steps []http.Handler
	next  int
}

type connKey struct{}

// NewServer starts a server on loopback that plays steps, one per request,
// and closes it when the test ends. With no steps it answers 200 OK.
func NewServer(tb testing.TB, steps ...http.Handler) *Server {
	tb.Helper()
	s := Start(steps...)
	tb.Cleanup(s.Close)
	return s
}

// NewTLSServer is NewServer over TLS (HTTP/1.1 and HTTP/2). Its Client
// method returns a client that trusts it.
func NewTLSServer(tb testing.TB, steps ...http.Handler) *Server {
	tb.Helper()
	s := StartTLS(steps...)
	tb.Cleanup(s.Close)
	return s
}

// Start is NewServer outside a test (a demo, a benchmark's setup): the
// caller must Close the server.
func Start(steps ...http.Handler) *Server {
	s := newServer(steps)
	s.Server.Start()
	return s
}

// StartTLS is NewTLSServer outside a test: the caller must Close the server.
func StartTLS(steps ...http.Handler) *Server {
	s := newServer(steps)
	s.EnableHTTP2 = true
	s.StartTLS()
	return s
}

func newServer(steps []http.Handler) *Server {
	if len(steps) == 0 {
		steps = []http.Handler{OK("")}
	}
	s := &Server{scripts: map[string]*script{"": {steps: steps}}}
	s.closing, s.stop = context.WithCancel(context.Background())
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.conns++
		return context.WithValue(ctx, connKey{}, s.conns)
	}
	return s
}

// Handle gives path a script of its own; requests to other paths play the
// default one. Call it before the requests it is meant for.
func (s *Server) Handle(path string, steps ...http.Handler) {
	if len(steps) == 0 {
		panic("httptestutil: Handle with no steps")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[path] = &script{steps: steps}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := &Request{
		Method: r.Method, URL: r.URL, Header: r.Header.Clone(),
		At: time.Now(), Conn: connID(r.Context()),
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	sc, ok := s.scripts[r.URL.Path]
	if !ok {
		sc = s.scripts[""]
	}
	step := sc.steps[min(sc.next, len(sc.steps)-1)]
	sc.next++
	s.mu.Unlock()

	// The step's context also ends when the server closes, so that no step
	// outlives it.
	ctx, cancel := context.WithCancel(r.Context())
	defer context.AfterFunc(s.closing, cancel)()
	defer cancel()
	r = r.WithContext(ctx)
	body := &recordingBody{rc: r.Body}
	r.Body = body
	defer func() {
		s.mu.Lock()
		rec.Body, rec.BodyErr = body.buf.Bytes(), body.err
		s.mu.Unlock()
	}()
	step.ServeHTTP(w, r)
}

func connID(ctx context.Context) int {
	id, _ := ctx.Value(connKey{}).(int)
	return id
}

// Requests returns a copy of what the server has recorded so far, in order
// of arrival. The body of a request whose step is still running may be
// incomplete.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	for i, r := range s.reqs {
		out[i] = *r
	}
	return out
}

// Count returns how many requests the server has received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// Conns returns how many connections clients have opened to the server.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Close cuts every client connection, so that steps waiting on a client
// return, then shuts the server down. It is safe to call more than once.
func (s *Server) Close() {
	// Cut the connections first: a step that returned before would let
	// net/http answer its request with an empty 200.
	s.CloseClientConnections()
	s.stop()
	s.Server.Close()
}

// recordingBody keeps a copy of what the handler reads of the request body.
type recordingBody struct {
	rc  io.ReadCloser
	buf bytes.Buffer
	err error
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.buf.Write(p[:n])
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *recordingBody) Close() error { return b.rc.Close() }
