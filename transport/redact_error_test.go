package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// rootCause follows Unwrap to the end of a chain of single wraps.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// The error a call returns quotes its URL, secrets and all; RedactError
// gives the same error with them redacted, and errors.Is and errors.As
// still reach what they reached: the *RetryError with its count, the
// cause, and a *url.Error whose URL is redacted too.
func TestRedactErrorHidesTheURLsSecrets(t *testing.T) {
	srv := htu.NewServer(t, htu.Reset())
	c, _ := newRetrying(t, fast(transport.RetryPolicy{}))
	u := strings.Replace(srv.URL, "http://", "http://alice:s3cr3t@", 1) + "/x;jsessionid=JSESS1?password=HUNTER2&sig=SIGGY&page=2#FRAG"
	_, err := c.Get(u)
	require.Error(t, err)
	require.Contains(t, err.Error(), "HUNTER2", "net/http quotes the URL")

	red := transport.RedactError(err)
	msg := red.Error()
	for _, secret := range []string{"HUNTER2", "SIGGY", "JSESS1", "alice", "s3cr3t", "FRAG"} {
		assert.NotContains(t, msg, secret)
	}
	assert.Contains(t, msg, "password=REDACTED&sig=REDACTED&page=2")
	assert.Contains(t, msg, "transport: after 4 attempts: ")

	var re *transport.RetryError
	require.ErrorAs(t, red, &re)
	assert.Equal(t, 4, re.Attempts)
	assert.ErrorIs(t, red, rootCause(err))
	var ue *url.Error
	require.ErrorAs(t, red, &ue)
	assert.Equal(t, "Get", ue.Op)
	assert.NotContains(t, ue.URL, "HUNTER2")
	assert.Contains(t, err.Error(), "HUNTER2", "the original is left as it was")
}

// A timeout stays a timeout, and an error that wraps the call's error is
// redacted too; extra names are secret as Logging's Redact makes them.
func TestRedactErrorKeepsWhatTheErrorAnswers(t *testing.T) {
	srv := htu.NewServer(t, htu.Hang())
	c := transport.NewClientWith(transport.ClientOptions{Base: pooledBase(t), Timeout: 200 * time.Millisecond})
	t.Cleanup(c.CloseIdleConnections)
	_, err := c.Get(srv.URL + "/?access_token=TOKEN123&customer=CUST42")
	require.Error(t, err)

	red := transport.RedactError(err, "customer")
	assert.NotContains(t, red.Error(), "TOKEN123")
	assert.NotContains(t, red.Error(), "CUST42")
	assert.ErrorIs(t, red, transport.ErrResponseTimeout)
	assert.ErrorIs(t, red, context.DeadlineExceeded)
	assert.True(t, os.IsTimeout(red))

	wrapped := transport.RedactError(fmt.Errorf("loading the dashboard: %w", err))
	assert.True(t, strings.HasPrefix(wrapped.Error(), "loading the dashboard: Get "), wrapped.Error())
	assert.NotContains(t, wrapped.Error(), "TOKEN123")
	assert.ErrorIs(t, wrapped, transport.ErrResponseTimeout)
	assert.True(t, os.IsTimeout(wrapped))
}

// What has nothing to redact comes back as it was.
func TestRedactErrorLeavesTheRestAlone(t *testing.T) {
	assert.NoError(t, transport.RedactError(nil))
	plain := errors.New("no URL here")
	assert.Same(t, plain, transport.RedactError(plain))
	clean := &url.Error{Op: "Get", URL: "https://api.example.com/things?page=2", Err: errors.New("EOF")}
	assert.Same(t, clean, transport.RedactError(clean))
	unreadable := &url.Error{Op: "Get", URL: "http://[::1%zz/?key=K3Y", Err: errors.New("bad")}
	assert.Equal(t, `Get "REDACTED": bad`, transport.RedactError(unreadable).Error())
}
