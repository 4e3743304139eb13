package transport

import (
	"errors"
	"net/url"
	"strings"
)

// RedactError returns err fit to log: the URL that net/http quotes in a
// call's error (Get "https://…?password=…": …) is redacted as Logging and
// RedactURL redact it (userinfo, fragment, and the values of secret query
// parameters and path parameters, by the default rules plus names), and its
// secrets are scrubbed from the rest of the text too. It returns nil for a
// nil err, and err itself when it quotes no URL (it holds no *url.Error) or
// the URL holds no secret.
//
// The error returned keeps what err answers: errors.Is and errors.As reach
// the same causes (a *RetryError, ErrResponseTimeout, context.Canceled),
// and a timeout is still one (net.Error, os.IsTimeout). When err is the
// *url.Error itself, as http.Client returns it, so is the result, with
// the redacted URL in its URL field; errors.As for a *url.Error in an err
// that wraps one finds the original, with the URL as it was.
//
//	resp, err := client.Get(u)
//	if err != nil {
//		logger.Error("fetch failed", "err", transport.RedactError(err))
//	}
func RedactError(err error, names ...string) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) || ue.URL == "" || ue.Err == nil {
		return err
	}
	redacted, secrets := Redacted, []string{ue.URL} // a URL that cannot be read is all secret
	if u, perr := url.Parse(ue.URL); perr == nil {
		redacted, secrets = newRedactor(names).url(u)
		if redacted == ue.URL && len(secrets) == 0 {
			return err
		}
	}
	clean := func(s string) string {
		return scrub(strings.ReplaceAll(s, ue.URL, redacted), secrets)
	}
	if ue == err {
		return &url.Error{Op: ue.Op, URL: redacted, Err: &redactedError{err: ue.Err, msg: clean(ue.Err.Error())}}
	}
	return &redactedError{err: err, msg: clean(err.Error())}
}

// redactedError is err with its text scrubbed of secrets.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Timeout reports whether err is a timeout, for url.Error.Timeout and
// os.IsTimeout, which do not unwrap.
func (e *redactedError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}
