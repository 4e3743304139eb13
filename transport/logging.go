package transport

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Log levels by outcome: a call that succeeded is Debug, a 4xx Info, a 5xx
// Warn, an error Error. Each retry is Info.
const retryLevel = slog.LevelInfo

// LogOptions configures Logging. The zero value logs to slog.Default(),
// without headers, with the default redaction.
type LogOptions struct {
	// Logger receives the records. nil means slog.Default().
	Logger *slog.Logger
	// LogHeaders adds the request's header fields to each call record, with
	// secret ones redacted.
	LogHeaders bool
	// Redact names more header fields and query parameters to redact, on
	// top of the defaults: Authorization, Proxy-Authorization, Cookie,
	// Set-Cookie, and any name containing token, key, secret, passw(ord),
	// signature, credential, auth, session, cookie, jwt or verifier, or named
	// sig, pwd, pw, pass or code. URL userinfo and fragments are always
	// redacted, and so are the secrets of a path: the value of a path
	// parameter with a secret name (";jsessionid=..."), and a bot token
	// ("/bot123456:AAH...", as Telegram's API has it).
	Redact []string
	// RedactPath, when set, is given each escaped URL path, its known
	// secrets already redacted, and returns it as it may be logged: for
	// secrets of your own in paths (an API key as a path segment). The
	// segments it changes are scrubbed from the rest of the record too.
	RedactPath func(path string) string
}

// Logging returns a middleware that logs one record per call (method,
// redacted URL, status, attempts, duration, the time RateLimit held it
// back when it did, error) and, when Retry is inside
// it, one record per retry (attempt, reason, wait, whether the wait came from
// Retry-After) and per limit that stopped one. Levels follow the outcome:
// Debug for success at the first try, Info for retries, for a success
// after them (so that a log at Info tells how the retries ended) and for
// 4xx, Warn for 5xx, Error for errors. Secrets are redacted (see LogOptions.Redact). It learns of retries
// through the call's Trace (see WithTrace).
//
// When the logger has no level enabled, Logging costs nothing: it passes the
// request straight on. It is safe for concurrent use.
func Logging(o LogOptions) Middleware {
	r := newRedactor(o.Redact)
	r.path = o.RedactPath
	return func(next http.RoundTripper) http.RoundTripper {
		next = wrapped("Logging", next)
		t := &logTransport{next: next, o: o, r: r}
		// The hooks that learn nothing for the call's line take what they
		// log from the event: made once, not per call.
		t.onRetry = func(e RetryEvent) { t.logRetry(e.Request.Context(), t.logger(), e.Request, e) }
		t.onGiveUp = func(e GiveUpEvent) { t.logGiveUp(e.Request.Context(), t.logger(), e.Request, e) }
		t.onResume = func(e ResumeEvent) { t.logResume(e.Request.Context(), t.logger(), e.Request, e) }
		return t
	}
}

type logTransport struct {
	next http.RoundTripper
	o    LogOptions
	r    *redactor

	onRetry  func(RetryEvent)
	onGiveUp func(GiveUpEvent)
	onResume func(ResumeEvent)
}

var _ http.RoundTripper = (*logTransport)(nil)

func (t *logTransport) logger() *slog.Logger {
	if t.o.Logger != nil {
		return t.o.Logger
	}
	return slog.Default()
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	l := t.logger()
	if !l.Enabled(ctx, slog.LevelError) {
		return t.next.RoundTrip(req)
	}
	c := &loggedCall{attempts: 1} // one allocation for the Trace and what it learns
	c.CallEnd = func(e CallEndEvent) { c.attempts, c.hedges, c.won = e.Attempts, e.Hedges, e.Won }
	c.Paced = func(e PacedEvent) { c.paced += e.Wait }
	if l.Enabled(ctx, retryLevel) {
		c.Retry, c.GiveUp, c.Resume = t.onRetry, t.onGiveUp, t.onResume
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req.WithContext(WithTrace(ctx, &c.Trace)))
	level := callLevel(resp, err)
	if level < retryLevel && c.attempts > 1+c.hedges {
		level = retryLevel // its retries were logged: so is how it ended
	}
	if l.Enabled(ctx, level) {
		t.logCall(ctx, l, level, req, resp, err, c, time.Since(start))
	}
	return resp, err
}

// loggedCall is the Trace Logging attaches to a call, and the attempt
// count it learns from it.
type loggedCall struct {
	Trace
	attempts int
	paced    time.Duration // held back on the client's side, in all
	hedges   int           // hedges sent
	won      int           // the attempt whose response the call returned, when hedged
}

func callLevel(resp *http.Response, err error) slog.Level {
	switch {
	case err != nil || resp == nil:
		return slog.LevelError
	case resp.StatusCode >= 500:
		return slog.LevelWarn
	case resp.StatusCode >= 400:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

func (t *logTransport) logCall(ctx context.Context, l *slog.Logger, level slog.Level, req *http.Request,
	resp *http.Response, err error, c *loggedCall, took time.Duration) {
	u, secrets := t.r.url(req.URL)
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("method", req.Method), slog.String("url", u))
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	attrs = append(attrs, slog.Int("attempts", c.attempts), slog.Duration("duration", took))
	if c.paced > 0 {
		attrs = append(attrs, slog.Duration("paced", c.paced))
	}
	if c.hedges > 0 {
		attrs = append(attrs, slog.Int("hedges", c.hedges), slog.Int("won", c.won))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", scrub(err.Error(), secrets)))
	}
	if t.o.LogHeaders {
		kv := t.r.header(req.Header, secrets)
		group := make([]any, 0, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			group = append(group, slog.String(kv[i], kv[i+1]))
		}
		attrs = append(attrs, slog.Group("headers", group...))
	}
	l.LogAttrs(ctx, level, "http call", attrs...)
}

func (t *logTransport) logRetry(ctx context.Context, l *slog.Logger, req *http.Request, e RetryEvent) {
	u, secrets := t.r.url(req.URL)
	l.LogAttrs(ctx, retryLevel, "http retry",
		slog.String("method", req.Method), slog.String("url", u),
		slog.Int("attempt", e.Attempt.Number),
		slog.String("reason", scrub(e.Reason(), secrets)),
		slog.Duration("wait", e.Wait),
		slog.Bool("retry_after", e.FromRetryAfter))
}

func (t *logTransport) logGiveUp(ctx context.Context, l *slog.Logger, req *http.Request, e GiveUpEvent) {
	u, secrets := t.r.url(req.URL)
	l.LogAttrs(ctx, retryLevel, "http retry stopped",
		slog.String("method", req.Method), slog.String("url", u),
		slog.Int("attempt", e.Attempt.Number),
		slog.String("reason", scrub(e.Attempt.reason(), secrets)),
		slog.String("stopped_by", e.Reason.String()))
}

func (t *logTransport) logResume(ctx context.Context, l *slog.Logger, req *http.Request, e ResumeEvent) {
	u, secrets := t.r.url(req.URL)
	l.LogAttrs(ctx, retryLevel, "http resume",
		slog.String("method", req.Method), slog.String("url", u),
		slog.Int64("offset", e.Offset),
		slog.String("reason", scrub(e.Err.Error(), secrets)),
		slog.Bool("resumed", e.Resumed))
}

// LogBreakerChanges returns a BreakerOptions.OnStateChange that logs each
// change of a host's circuit to l: Warn when it opens, Info otherwise. A
// change is the host's, not any one call's, so Logging does not log it;
// NewClientWith wires this hook when ClientOptions.Log.Logger is set.
func LogBreakerChanges(l *slog.Logger) func(host string, from, to BreakerState) {
	return func(host string, from, to BreakerState) {
		level := slog.LevelInfo
		if to == Open {
			level = slog.LevelWarn
		}
		l.LogAttrs(context.Background(), level, "circuit state",
			slog.String("host", host), slog.String("from", from.String()), slog.String("to", to.String()))
	}
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *logTransport) CloseIdleConnections() { closeIdle(t.next) }
