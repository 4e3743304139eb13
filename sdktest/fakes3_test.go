package sdktest

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeS3 is an S3 endpoint (path-style) that checks what S3 checks on
// every request: the SigV4 signature, recomputed, its age, and the payload
// hash. It stores objects in memory and fails the requests its script
// says, in order.
type fakeS3 struct {
	secret string

	mu       sync.Mutex
	script   []string // per request: "" serves, "503" SlowDown, "500" InternalError, "lost" stores and drops the answer
	objects  map[string][]byte
	puts     int // objects stored: the effects
	deletes  int // objects deleted
	requests []s3Request
}

// s3Request is what the fake saw of one request.
type s3Request struct {
	method, path  string
	bodyLen       int
	sigErr        error
	sdkRequest    string // Amz-Sdk-Request
	invocationID  string // Amz-Sdk-Invocation-Id
	retryAttempt  string // rtchain's attempt header, when the client sets one
	contentSHA256 string
}

// fakeSecret is the secret key the fake S3 checks signatures with.
const fakeSecret = "fake-secret-key"

// makeFakeS3 returns a fake S3 that plays script; newFakeS3 also serves it.
func makeFakeS3(script ...string) *fakeS3 {
	return &fakeS3{secret: fakeSecret, script: script, objects: map[string][]byte{}}
}

func newFakeS3(t *testing.T, script ...string) (*fakeS3, string) {
	t.Helper()
	f := makeFakeS3(script...)
	return f, serve(t, f)
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away mid-body
	}
	seen := s3Request{
		method: r.Method, path: r.URL.Path, bodyLen: len(body),
		sigErr:        checkSigV4(r, body, f.secret, time.Now()),
		sdkRequest:    r.Header.Get("Amz-Sdk-Request"),
		invocationID:  r.Header.Get("Amz-Sdk-Invocation-Id"),
		retryAttempt:  r.Header.Get("Retry-Attempt"),
		contentSHA256: r.Header.Get("X-Amz-Content-Sha256"),
	}
	f.mu.Lock()
	f.requests = append(f.requests, seen)
	step := ""
	if len(f.script) > 0 {
		step, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()

	if seen.sigErr != nil {
		s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch", seen.sigErr.Error())
		return
	}
	switch step {
	case "503":
		s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case "500":
		s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error.")
		return
	}
	switch r.Method {
	case http.MethodPut:
		f.mu.Lock()
		f.objects[r.URL.Path] = body
		f.puts++
		f.mu.Unlock()
		if step == "lost" {
			dropAnswer(w)
			return
		}
		w.Header().Set("ETag", `"fake"`)
	case http.MethodGet:
		f.mu.Lock()
		obj, ok := f.objects[r.URL.Path]
		f.mu.Unlock()
		if !ok {
			s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		_, _ = w.Write(obj)
	case http.MethodPost:
		f.deleteObjects(w, r, body)
	default:
		s3Error(w, http.StatusNotImplemented, "NotImplemented", r.Method)
	}
}

// deleteObjects is DeleteObjects (POST /bucket?delete): S3 refuses it
// without a checksum of the body, and answers which keys it deleted.
func (f *fakeS3) deleteObjects(w http.ResponseWriter, r *http.Request, body []byte) {
	if _, ok := r.URL.Query()["delete"]; !ok {
		s3Error(w, http.StatusNotImplemented, "NotImplemented", "POST "+r.URL.RawQuery)
		return
	}
	hasChecksum := r.Header.Get("Content-Md5") != ""
	for k := range r.Header {
		hasChecksum = hasChecksum || strings.HasPrefix(k, "X-Amz-Checksum-")
	}
	var del struct {
		Objects []struct{ Key string } `xml:"Object"`
	}
	if !hasChecksum || xml.Unmarshal(body, &del) != nil {
		s3Error(w, http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: Content-MD5")
		return
	}
	var out strings.Builder
	out.WriteString(`<?xml version="1.0" encoding="UTF-8"?><DeleteResult>`)
	f.mu.Lock()
	for _, o := range del.Objects {
		delete(f.objects, r.URL.Path+"/"+o.Key)
		f.deletes++
		fmt.Fprintf(&out, "<Deleted><Key>%s</Key></Deleted>", o.Key)
	}
	f.mu.Unlock()
	out.WriteString(`</DeleteResult>`)
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, out.String())
}

func (f *fakeS3) seen() []s3Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]s3Request(nil), f.requests...)
}

// signedAttempts requires that f got n requests, each signed as S3 checks
// it and, when size is not negative, each with the whole body of size
// bytes; it returns them.
func (f *fakeS3) signedAttempts(t *testing.T, n, size int) []s3Request {
	t.Helper()
	seen := f.seen()
	require.Len(t, seen, n)
	for i, r := range seen {
		require.NoError(t, r.sigErr, "attempt %d is signed", i+1)
		if size >= 0 {
			assert.Equal(t, size, r.bodyLen, "attempt %d sent the whole body", i+1)
		}
	}
	return seen
}

func s3Error(w http.ResponseWriter, code int, s3code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(code)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>fake</RequestId></Error>`,
		s3code, strings.ReplaceAll(msg, "<", "&lt;"))
}

// dropAnswer closes the connection without an answer: the effect happened,
// and the client cannot know it.
func dropAnswer(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}
