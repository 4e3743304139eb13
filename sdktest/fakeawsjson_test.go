package sdktest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAWSJSON is an AWS service on the JSON protocol (DynamoDB, SQS): one
// POST endpoint that checks, as AWS does, the SigV4 signature (recomputed,
// its age, the payload hash), the X-Amz-Target of the service and the
// content type. Its script says what each request gets, in order:
//
//	"throttle"  400 with the service's throttling code in the body
//	            (ProvisionedThroughputExceededException, RequestThrottled)
//	"500"       500 InternalFailure, nothing done
//	"503"       503 ServiceUnavailable, nothing done
//	"invalid"   400 ValidationException (never worth a retry)
//
// and otherwise the operation is done (an effect) and answered.
type fakeAWSJSON struct {
	targetPrefix string // "DynamoDB_20120810." or "AmazonSQS."
	namespace    string // of the error codes
	throttleCode string

	mu       sync.Mutex
	script   []string
	effects  int
	requests []awsRequest
}

type awsRequest struct {
	target, date, sdkRequest string
	sigErr                   error
}

func (f *fakeAWSJSON) start(t *testing.T, script ...string) string {
	t.Helper()
	f.script = script
	return serve(t, f)
}

func (f *fakeAWSJSON) seen() []awsRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]awsRequest(nil), f.requests...)
}

func (f *fakeAWSJSON) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	seen := awsRequest{
		target: r.Header.Get("X-Amz-Target"), date: r.Header.Get("X-Amz-Date"),
		sdkRequest: r.Header.Get("Amz-Sdk-Request"),
		sigErr:     checkSigV4(r, body, fakeSecret, time.Now()),
	}
	f.mu.Lock()
	f.requests = append(f.requests, seen)
	step := ""
	if len(f.script) > 0 {
		step, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()

	var input map[string]any
	switch {
	case seen.sigErr != nil:
		f.fail(w, http.StatusBadRequest, "InvalidSignatureException", seen.sigErr.Error())
		return
	case r.Method != http.MethodPost || !strings.HasPrefix(seen.target, f.targetPrefix):
		f.fail(w, http.StatusBadRequest, "UnknownOperationException", seen.target)
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.0", json.Unmarshal(body, &input) != nil:
		f.fail(w, http.StatusBadRequest, "SerializationException", "not JSON 1.0")
		return
	}
	switch step {
	case "throttle":
		f.fail(w, http.StatusBadRequest, f.throttleCode, "Rate of requests exceeds the allowed throughput.")
		return
	case "500":
		f.fail(w, http.StatusInternalServerError, "InternalFailure", "The request processing has failed.")
		return
	case "503":
		f.fail(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Service unavailable.")
		return
	case "invalid":
		f.fail(w, http.StatusBadRequest, "ValidationException", "One or more parameter values were invalid.")
		return
	}
	f.mu.Lock()
	f.effects++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch strings.TrimPrefix(seen.target, f.targetPrefix) {
	case "SendMessage":
		text, _ := input["MessageBody"].(string)
		sum := md5.Sum([]byte(text)) // the SDK checks it
		fmt.Fprintf(w, `{"MessageId":"m-%d","MD5OfMessageBody":%q}`, f.effects, hex.EncodeToString(sum[:]))
	default:
		_, _ = io.WriteString(w, `{}`)
	}
}

func (f *fakeAWSJSON) fail(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, f.namespace+"#"+errCode, msg)
}
