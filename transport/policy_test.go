package transport_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/transport"
)

func TestIsTransientError(t *testing.T) {
	opErr := func(op string, err error) error { return &net.OpError{Op: op, Net: "tcp", Err: err} }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused", opErr("dial", os.NewSyscallError("connect", syscall.ECONNREFUSED)), true},
		{"reset", opErr("read", os.NewSyscallError("read", syscall.ECONNRESET)), true},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"EOF before response", io.EOF, true},
		{"server closed idle connection", fmt.Errorf("wrapped: %w", errors.New("http: server closed idle connection")), true},
		{"unexpected EOF", fmt.Errorf("net/http: transport connection broken: %w", io.ErrUnexpectedEOF), true},
		{"timeout", opErr("dial", os.ErrDeadlineExceeded), true},
		{"per-try timeout", transport.ErrPerTryTimeout, true},
		{"temporary DNS failure", &net.DNSError{Err: "server misbehaving", IsTemporary: true}, true},
		{"no such host", &net.DNSError{Err: "no such host", IsNotFound: true}, false},
		{"context canceled", context.Canceled, false},
		{"context deadline", fmt.Errorf("rate: %w", context.DeadlineExceeded), false},
		{"certificate", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false},
		{"unknown authority", x509.UnknownAuthorityError{}, false},
		{"wrong host", x509.HostnameError{Host: "x"}, false},
		{"TLS alert", tls.AlertError(42), false},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, false},
		{"unsupported scheme", errors.New(`unsupported protocol scheme "ftp"`), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, transport.IsTransientError(tc.err))
		})
	}
}

func TestIdempotencyRules(t *testing.T) {
	for method, want := range map[string]bool{
		"": true, "GET": true, "HEAD": true, "OPTIONS": true, "TRACE": true, "PUT": true, "DELETE": true,
		"POST": false, "PATCH": false, "CONNECT": false, "get": false,
	} {
		assert.Equal(t, want, transport.IsIdempotent(method), method)
	}
	assert.True(t, transport.HasIdempotencyKey(http.Header{"Idempotency-Key": {"k"}}))
	assert.True(t, transport.HasIdempotencyKey(http.Header{"X-Idempotency-Key": nil}), "net/http's marker")
	assert.False(t, transport.HasIdempotencyKey(http.Header{"Key": {"k"}}))
}

func TestRetryEventReason(t *testing.T) {
	assert.Equal(t, "503 Service Unavailable", transport.RetryEvent{
		Attempt: transport.Attempt{Response: &http.Response{Status: "503 Service Unavailable"}},
	}.Reason())
	assert.Equal(t, "EOF", transport.RetryEvent{Attempt: transport.Attempt{Err: io.EOF}}.Reason())
}
