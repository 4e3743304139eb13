package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

var download = bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB

// serveRanges serves download as net/http does a file: Accept-Ranges, an
// ETag, ranges with If-Range.
func serveRanges(etag string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(download))
	})
}

// cutAfter answers like serveRanges (the whole body, or the range asked
// for), but drops the connection once the body has reached offset n.
func cutAfter(n int, etag string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", etag)
		w.Header().Set("Accept-Ranges", "bytes")
		from := 0
		if rng := r.Header.Get("Range"); rng != "" {
			from, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rng, "bytes="), "-"))
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(download)-1, len(download)))
			w.Header().Set("Content-Length", strconv.Itoa(len(download)-from))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(download)))
		}
		_, _ = w.Write(download[from:n])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // the connection goes, mid-body
	})
}

// fetch GETs url through rt and reads the whole body.
func fetch(t *testing.T, ctx context.Context, rt http.RoundTripper, url string) ([]byte, error) {
	t.Helper()
	resp, err := rt.RoundTrip(newRequest(t, ctx, http.MethodGet, url, nil))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return io.ReadAll(resp.Body)
}

func TestResumeABodyThatBrokeOff(t *testing.T) {
	const etag = `"v1"`
	srv := htu.NewServer(t, cutAfter(10000, etag), cutAfter(30000, etag), serveRanges(etag))
	rt := transport.Chain(pooledBase(t), transport.Retry(fast(transport.RetryPolicy{})))
	var resumes []transport.ResumeEvent
	ctx := transport.WithTrace(context.Background(), &transport.Trace{Resume: func(e transport.ResumeEvent) {
		resumes = append(resumes, e)
	}})
	got, err := fetch(t, ctx, rt, srv.URL)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(download, got), "byte for byte")
	require.Len(t, resumes, 2, "each resume is a Trace event")
	assert.Equal(t, []int64{10000, 30000}, []int64{resumes[0].Offset, resumes[1].Offset})
	assert.True(t, resumes[0].Resumed && resumes[1].Resumed)
	assert.ErrorIs(t, resumes[0].Err, io.ErrUnexpectedEOF)
	reqs := srv.Requests()
	require.Len(t, reqs, 3)
	assert.Empty(t, reqs[0].Header.Get("Range"))
	assert.Equal(t, "bytes=10000-", reqs[1].Header.Get("Range"))
	assert.Equal(t, etag, reqs[1].Header.Get("If-Range"))
	assert.Equal(t, "bytes=30000-", reqs[2].Header.Get("Range"), "the second cut, counted from the start")
}

// Anything but exactly the rest of the same version surfaces the original
// error, with only the bytes of the first response: never mixed bytes.
func TestResumeNeverMixesBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		then http.Handler
	}{
		{"the whole body again (200)", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(download)
		})},
		{"another version", serveRanges(`"v2"`)},
		{"a shorter range", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 10000-19999/%d", len(download)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(download[10000:20000])
		})},
		{"the wrong start", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(download)-1, len(download)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(download)
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := htu.NewServer(t, cutAfter(10000, `"v1"`), tc.then)
			rt := transport.Chain(pooledBase(t), transport.Retry(fast(transport.RetryPolicy{})))
			var resumed []bool
			ctx := transport.WithTrace(context.Background(), &transport.Trace{Resume: func(e transport.ResumeEvent) {
				resumed = append(resumed, e.Resumed)
			}})
			got, err := fetch(t, ctx, rt, srv.URL)
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.Equal(t, []bool{false}, resumed, "the refused resume is an event too")
			assert.Equal(t, download[:10000], got)
			assert.Equal(t, 2, srv.Count(), "one resume was tried")
		})
	}
}

// No resume without a strong validator, without retries, or once the
// caller gave up.
func TestResumeOnlyWhenSafe(t *testing.T) {
	weak := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `W/"v1"`)
		cutAfter(10000, `W/"v1"`).ServeHTTP(w, r)
	})
	noValidator := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Length", strconv.Itoa(len(download)))
		_, _ = w.Write(download[:10000])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	})
	for _, tc := range []struct {
		name   string
		first  http.Handler
		policy transport.RetryPolicy
	}{
		{"a weak ETag", weak, transport.RetryPolicy{}},
		{"no validator", noValidator, transport.RetryPolicy{}},
		{"no retries", cutAfter(10000, `"v1"`), transport.RetryPolicy{MaxRetries: -1}},
		{"NoResume", cutAfter(10000, `"v1"`), transport.RetryPolicy{NoResume: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := htu.NewServer(t, tc.first, serveRanges(`"v1"`))
			rt := transport.Chain(pooledBase(t), transport.Retry(fast(tc.policy)))
			_, err := fetch(t, context.Background(), rt, srv.URL)
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.Equal(t, 1, srv.Count(), "no resume")
		})
	}
}

// Resumes spend the retries the call had left: a body that breaks off
// more often than that fails with its error.
func TestResumesAreBoundedByMaxRetries(t *testing.T) {
	srv := htu.NewServer(t, cutAfter(1000, `"v1"`), cutAfter(2000, `"v1"`), cutAfter(3000, `"v1"`), serveRanges(`"v1"`))
	rt := transport.Chain(pooledBase(t), transport.Retry(fast(transport.RetryPolicy{MaxRetries: 1})))
	got, err := fetch(t, context.Background(), rt, srv.URL)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, download[:2000], got)
	assert.Equal(t, 2, srv.Count())
}

// A request for the rest that fails on the way is sent again.
func TestResumeRetriesTheRangeRequest(t *testing.T) {
	srv := htu.NewServer(t, cutAfter(10000, `"v1"`), htu.Reset(), serveRanges(`"v1"`))
	rt := transport.Chain(pooledBase(t), transport.Retry(fast(transport.RetryPolicy{})))
	got, err := fetch(t, context.Background(), rt, srv.URL)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(download, got))
	assert.Equal(t, 3, srv.Count())
}
