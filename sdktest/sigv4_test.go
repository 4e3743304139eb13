package sdktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// checkSigV4 recomputes an AWS Signature Version 4 from what r carries, as
// AWS does, with the secret key the fake knows, and compares it with the
// signature the client sent. It also checks that the signature is fresh
// (15 minutes, as AWS allows) and that X-Amz-Content-Sha256 is the hash of
// body, unless the payload was declared unsigned; without that header (the
// services other than S3), the signature covers the hash of body itself.
func checkSigV4(r *http.Request, body []byte, secret string, now time.Time) error {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return fmt.Errorf("not SigV4: %q", auth)
	}
	fields := map[string]string{}
	for _, f := range strings.Split(auth[len(algo):], ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.SplitN(fields["Credential"], "/", 2)
	if len(scope) != 2 || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return fmt.Errorf("malformed Authorization: %q", auth)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return fmt.Errorf("X-Amz-Date %q: %w", amzDate, err)
	}
	if d := now.Sub(signedAt); d > 15*time.Minute || d < -15*time.Minute {
		return fmt.Errorf("signature is %v old", d)
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case payload == "":
		// Services other than S3 take no such header: the canonical
		// request carries the hash of the body received.
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	case payload == "UNSIGNED-PAYLOAD":
	case strings.HasPrefix(payload, "STREAMING-"):
		return fmt.Errorf("streaming payloads are not checked by this fake: %s", payload)
	default:
		sum := sha256.Sum256(body)
		if payload != hex.EncodeToString(sum[:]) {
			return fmt.Errorf("X-Amz-Content-Sha256 %s is not the hash of the %d bytes received", payload, len(body))
		}
	}

	signed := strings.Split(fields["SignedHeaders"], ";")
	var headers strings.Builder
	for _, name := range signed {
		var v string
		if name == "host" {
			v = r.Host
		} else {
			vals := r.Header.Values(name)
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			v = strings.Join(vals, ",")
		}
		fmt.Fprintf(&headers, "%s:%s\n", name, v)
	}
	canonical := strings.Join([]string{
		r.Method, r.URL.EscapedPath(), canonicalQuery(r.URL.Query()),
		headers.String(), fields["SignedHeaders"], payload,
	}, "\n")
	hash := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256", amzDate, scope[1], hex.EncodeToString(hash[:])}, "\n")

	parts := strings.Split(scope[1], "/") // date/region/service/aws4_request
	key := []byte("AWS4" + secret)
	for _, p := range parts {
		key = hmacSHA256(key, p)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return fmt.Errorf("signature mismatch")
	}
	return nil
}

func canonicalQuery(q url.Values) string {
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, awsEscape(k)+"="+awsEscape(v))
		}
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

func awsEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
