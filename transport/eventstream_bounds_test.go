package transport_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// pipeStreams is a base whose every answer is a 200 event stream that the
// test writes, through the pipe of the attempt, after latency.
type pipeStreams struct {
	latency time.Duration
	writers chan *io.PipeWriter
}

func newPipeStreams(latency time.Duration) *pipeStreams {
	return &pipeStreams{latency: latency, writers: make(chan *io.PipeWriter, 8)}
}

func (p *pipeStreams) RoundTrip(req *http.Request) (*http.Response, error) {
	time.Sleep(p.latency) // the server's time to answer, on the bubble's clock
	pr, pw := io.Pipe()
	p.writers <- pw
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Request: req,
		Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: pr}, nil
}

// write writes parts to w, one Write each, on a goroutine of its own, and
// closes w when close is set.
func write(w *io.PipeWriter, close bool, parts ...string) {
	go func() {
		for _, p := range parts {
			if _, err := io.WriteString(w, p); err != nil {
				return
			}
		}
		if close {
			_ = w.Close()
		}
	}()
}

// The hold is bounded: a stream without content is released as it is
// after EventStream.Timeout, after its per-try timeout, after half the time
// left to the call's deadline, or past EventStream.Limit bytes; an error
// event that comes after is the caller's. Every byte reaches the caller,
// in order.
func TestEventStreamHoldBounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   transport.RetryPolicy
		latency  time.Duration
		deadline time.Duration // 0 for none
		held     []string      // what the server sends before the hold ends
		released time.Duration // when the call returns
	}{
		{"Timeout", transport.RetryPolicy{EventStream: transport.EventStreamOptions{Timeout: 3 * time.Second}},
			0, 0, []string{msgStart}, 3 * time.Second},
		{"default Timeout", transport.RetryPolicy{},
			0, 0, []string{msgStart, ping}, 10 * time.Second},
		{"PerTryTimeout", transport.RetryPolicy{PerTryTimeout: 2 * time.Second},
			1500 * time.Millisecond, 0, []string{msgStart}, 2 * time.Second},
		{"deadline", transport.RetryPolicy{},
			0, 8 * time.Second, []string{msgStart}, 4 * time.Second},
		{"Limit", transport.RetryPolicy{EventStream: transport.EventStreamOptions{Limit: int64(len(msgStart) + 3*len(ping))}},
			0, 0, []string{msgStart, ping, ping, ping}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := newPipeStreams(tc.latency)
				rt := transport.Chain(base, transport.Retry(tc.policy))
				ctx := context.Background()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				req := newRequest(t, ctx, http.MethodPost, "http://llm.test/v1/messages", strings.NewReader(`{}`))
				start := time.Now()
				w := make(chan *io.PipeWriter, 1)
				go func() {
					pw := <-base.writers
					w <- pw
					write(pw, false, tc.held...)
				}()
				resp, err := rt.RoundTrip(req)
				require.NoError(t, err)
				assert.Equal(t, tc.released, time.Since(start), "released at once at its bound")

				late := anthropicError("overloaded_error")
				write(<-w, true, late)
				got, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, strings.Join(tc.held, "")+late, string(got))
				assert.Equal(t, 1, transport.Attempts(resp), "an error after the hold is the caller's")
			})
		})
	}
}

// The call's context ending during the hold ends the call at once, with the
// context's error, and the stream is closed.
func TestEventStreamHoldEndsWithTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := newPipeStreams(0)
		rt := transport.Chain(base, transport.Retry(transport.RetryPolicy{}))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(time.Second, cancel)
		req := newRequest(t, ctx, http.MethodPost, "http://llm.test/v1/messages", strings.NewReader(`{}`))
		var w *io.PipeWriter
		go func() {
			w = <-base.writers
			_, _ = io.WriteString(w, msgStart)
		}()
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		assert.Nil(t, resp)
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, time.Second, time.Since(start))
		_, err = io.WriteString(w, ping)
		assert.True(t, errors.Is(err, io.ErrClosedPipe), "the stream was closed: %v", err)
	})
}

// A stream whose content starts before any bound is released at once.
func TestEventStreamReleasedByContent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := newPipeStreams(0)
		rt := transport.Chain(base, transport.Retry(transport.RetryPolicy{}))
		req := newRequest(t, context.Background(), http.MethodPost, "http://llm.test/v1/chat/completions", strings.NewReader(`{}`))
		go func() { write(<-base.writers, false, roleChunk, textChunk) }()
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		assert.Zero(t, time.Since(start))
		buf := make([]byte, len(roleChunk+textChunk))
		_, err = io.ReadFull(resp.Body, buf)
		require.NoError(t, err)
		assert.Equal(t, roleChunk+textChunk, string(buf))
		require.NoError(t, resp.Body.Close())
	})
}
