package transport_test

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// closingListener closes the first connections it accepts at once, as a
// TCP proxy or a load balancer does when the instance behind it is down.
type closingListener struct {
	net.Listener
	close atomic.Int32 // how many more to close
}

func (l *closingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.close.Add(-1) < 0 {
			return c, err
		}
		_ = c.Close()
	}
}

// A connection closed before the server read anything: net/http reports
// EOF, or "server closed idle connection" when its reader sees the close
// before the request is handed to the connection (often under -race; the
// chaos fleet met it when an instance behind a proxy was down). Both are
// retried for a request safe to send again; the second was not.
func TestConnectionClosedOnAcceptIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cl := &closingListener{Listener: ln}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("paid"))
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(cl) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })

	base := pooledBase(t)
	base.DisableKeepAlives = true
	var reasons []string
	client := &http.Client{Transport: transport.Chain(base, transport.Retry(fast(transport.RetryPolicy{
		MaxRetries: 3,
		OnRetry:    func(e transport.RetryEvent) { reasons = append(reasons, e.Reason()) },
	})))}
	for range 20 {
		cl.close.Store(1)
		req, err := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/pay", strings.NewReader("10"))
		require.NoError(t, err)
		req.Header.Set("Idempotency-Key", "k")
		resp, err := client.Do(req)
		require.NoError(t, err)
		assert.Equal(t, "paid", readAll(t, resp))
	}
	t.Logf("retried after: %v", reasons)
	assert.Len(t, reasons, 20)
}
