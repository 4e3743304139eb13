package rtotel

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtchain/rtchain/transport"
)

// Calls returns a middleware that observes every call through the chain
// below it, through transport.Trace: place it outside Retry. Each retry, each
// limit that stopped one and each attempt held back is an event on the
// call's span (the span in the request's context, when it is recording),
// and all of them, with the attempts of each call, are recorded in the
// metrics.
//
// A client built by transport.NewClientWith can have the same without this
// layer's cost (a copy of each request, to carry the Trace in its
// context): give it Trace as ClientOptions.Trace, as Client does.
func (i *Instrumentation) Calls() transport.Middleware {
	tr := i.Trace()
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			panic("rtotel: Calls: nil RoundTripper")
		}
		return &callsTransport{next: next, trace: tr}
	}
}

// Trace returns the transport.Trace that records every call's events into
// the metrics and onto the call's span: Calls puts it in each call's
// context, and Client gives it to transport.ClientOptions.Trace, which costs
// a call nothing more.
func (i *Instrumentation) Trace() *transport.Trace {
	return &transport.Trace{Retry: i.retry, GiveUp: i.giveUp, Paced: i.pace, CallEnd: i.callEnd, Resume: i.resume, Hedge: i.hedge}
}

type callsTransport struct {
	next  http.RoundTripper
	trace *transport.Trace // one for every call: the events carry their requests
}

var _ http.RoundTripper = (*callsTransport)(nil)

func (t *callsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(req.WithContext(transport.WithTrace(req.Context(), t.trace)))
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *callsTransport) CloseIdleConnections() { closeIdle(t.next) }

func (i *Instrumentation) retry(e transport.RetryEvent) {
	ctx, host := where(e.Attempt.Request)
	reason := reasonOf(e.Attempt)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("rtchain.retry", trace.WithAttributes(
			attribute.Int("rtchain.attempt", e.Attempt.Number),
			attribute.String("rtchain.retry.reason", reason),
			attribute.Float64("rtchain.retry.wait", e.Wait.Seconds()),
			attribute.Bool("rtchain.retry.after", e.FromRetryAfter)))
	}
	i.retries.Add(ctx, 1, metric.WithAttributes(serverAddress(host),
		attribute.String("rtchain.retry.reason", reason), attribute.Bool("rtchain.retry.after", e.FromRetryAfter)))
	i.retryWait.Record(ctx, e.Wait.Seconds(), i.hosts.options(host)...)
}

func (i *Instrumentation) giveUp(e transport.GiveUpEvent) {
	ctx, host := where(e.Attempt.Request)
	reason := giveUpReasons[e.Reason]
	if reason == "" {
		reason = "other"
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("rtchain.give_up", trace.WithAttributes(
			attribute.Int("rtchain.attempt", e.Attempt.Number),
			attribute.String("rtchain.give_up.reason", reason),
			attribute.String("rtchain.retry.reason", reasonOf(e.Attempt))))
	}
	i.giveUps.Add(ctx, 1, metric.WithAttributes(serverAddress(host), attribute.String("rtchain.give_up.reason", reason)))
}

func (i *Instrumentation) pace(e transport.PacedEvent) {
	ctx, host := where(e.Request)
	reason := paceReasons[e.Reason]
	if reason == "" {
		reason = "other"
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("rtchain.paced", trace.WithAttributes(
			attribute.String("rtchain.pace.reason", reason),
			attribute.Float64("rtchain.pace.wait", e.Wait.Seconds())))
	}
	opt := metric.WithAttributes(serverAddress(host), attribute.String("rtchain.pace.reason", reason))
	i.paced.Add(ctx, 1, opt)
	i.paceTime.Record(ctx, e.Wait.Seconds(), opt)
}

// hedge counts a hedge sent, or the attempt that won a hedged call
// (rtchain.hedge.won true, and whether the winner was a hedge).
func (i *Instrumentation) hedge(e transport.HedgeEvent) {
	ctx, host := where(e.Request)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("rtchain.hedge", trace.WithAttributes(
			attribute.Int("rtchain.attempt", e.Attempt), attribute.Bool("rtchain.hedge.won", e.Won)))
	}
	i.hedges.Add(ctx, 1, metric.WithAttributes(serverAddress(host), attribute.Bool("rtchain.hedge.won", e.Won),
		attribute.Bool("rtchain.hedge.by_hedge", e.Won && e.Attempt > 1)))
}

func (i *Instrumentation) resume(e transport.ResumeEvent) {
	ctx, host := where(e.Request)
	outcome := "resumed"
	if !e.Resumed {
		outcome = "failed"
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("rtchain.resume", trace.WithAttributes(
			attribute.Int64("rtchain.resume.offset", e.Offset),
			attribute.String("rtchain.resume.outcome", outcome)))
	}
	i.resumes.Add(ctx, 1, metric.WithAttributes(serverAddress(host), attribute.String("rtchain.resume.outcome", outcome)))
}

func (i *Instrumentation) callEnd(e transport.CallEndEvent) {
	ctx, host := where(e.Request)
	i.attempts.Record(ctx, int64(e.Attempts), i.hosts.options(host)...)
	if e.Err != nil && errors.Is(e.Err, transport.ErrRejectedLocally) { // no allocation on the other paths
		i.rejected.Add(ctx, 1, metric.WithAttributes(serverAddress(host),
			attribute.String("rtchain.rejected.reason", rejectedReason(e.Err))))
	}
}

// rejectedReason names why the client rejected an attempt itself: its
// transport.RejectedError's Kind (cool_down, pace, adaptive_throttle,
// limit), or other.
func rejectedReason(err error) string {
	var rej *transport.RejectedError
	if !errors.As(err, &rej) {
		return otherValue
	}
	return rej.Kind.String()
}

// where returns a request's context and host, for an event's attributes.
func where(req *http.Request) (context.Context, string) {
	if req == nil {
		return context.Background(), ""
	}
	if req.URL == nil {
		return req.Context(), ""
	}
	return req.Context(), req.URL.Host
}

func serverAddress(host string) attribute.KeyValue {
	return attribute.String("server.address", host)
}

// reasonOf names why an attempt failed, in few enough values to be an
// attribute: its status code, or the kind of its error.
func reasonOf(a transport.Attempt) string {
	if a.Response != nil {
		return strconv.Itoa(a.Response.StatusCode)
	}
	err := a.Err
	var netErr net.Error
	switch {
	case err == nil:
		return "other"
	case errors.Is(err, transport.ErrPerTryTimeout):
		return "per_try_timeout"
	case errors.Is(err, transport.ErrCircuitOpen):
		return "circuit_open"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	}
	return "other"
}

var giveUpReasons = map[transport.GiveUpReason]string{
	transport.GiveUpMaxRetries:    "max_retries",
	transport.GiveUpBudget:        "budget",
	transport.GiveUpRetryAfter:    "retry_after",
	transport.GiveUpDeadline:      "deadline",
	transport.GiveUpNotReplayable: "not_replayable",
	transport.GiveUpThrottled:     "throttled",
}

var paceReasons = map[transport.PaceReason]string{
	transport.PacedByCoolDown: "cool_down",
	transport.PacedByLimit:    "limit",
	transport.PacedByPacer:    "pace",
}
