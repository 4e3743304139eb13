package rtaws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	awsmiddle "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"

	"github.com/rtchain/rtchain/transport"
)

// GiveUpError says why the retryer did not retry a failure that the SDK's
// rules retry, and what the service last answered. The SDK returns it
// joined to the last attempt's error (errors.Join), inside its
// *smithy.OperationError; errors.As reaches it and, through it or beside
// it, the last error (a smithy.APIError for an answer of the service).
type GiveUpError struct {
	// Reason is transport.GiveUpBudget (the scope's retry budget was
	// spent) or transport.GiveUpDeadline (the wait would have ended after
	// the context's deadline).
	Reason transport.GiveUpReason
	// Service, Operation and Resource name the scope ("DynamoDB",
	// "PutItem", "orders"); Resource is "" for an operation on none or on
	// several.
	Service, Operation, Resource string
	// Attempts is the number of attempts the call made.
	Attempts int
	// Wait is, for GiveUpDeadline, the wait that was not begun.
	Wait time.Duration
	// Err is the last attempt's error.
	Err error
}

// Error says what was not retried, why, and what the service last
// answered, in one line.
func (e *GiveUpError) Error() string {
	var b strings.Builder
	b.WriteString("rtaws: ")
	b.WriteString(e.Service)
	if e.Operation != "" {
		b.WriteString(" " + e.Operation)
	}
	if e.Resource != "" {
		b.WriteString(" on " + e.Resource)
	}
	fmt.Fprintf(&b, " not retried after %d attempt", e.Attempts)
	if e.Attempts != 1 {
		b.WriteString("s")
	}
	switch e.Reason {
	case transport.GiveUpBudget:
		b.WriteString(": the client spent its retry budget (a share of its calls) for it")
	case transport.GiveUpDeadline:
		fmt.Fprintf(&b, ": the wait of %v would end after the context's deadline", e.Wait.Round(time.Millisecond))
	default:
		b.WriteString(": " + e.Reason.String())
	}
	if answer, ok := lastAnswer(e.Err); ok {
		b.WriteString("; the service last answered " + answer)
	} else if e.Err != nil {
		b.WriteString("; the last attempt got no answer: " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the last attempt's error.
func (e *GiveUpError) Unwrap() error { return e.Err }

// giveUp returns the GiveUpError of the call in ctx.
func (c *call) giveUp(ctx context.Context, reason transport.GiveUpReason, wait time.Duration, err error) *GiveUpError {
	return &GiveUpError{
		Reason: reason, Service: awsmiddle.GetServiceID(ctx), Operation: awsmiddle.GetOperationName(ctx),
		Resource: c.resource, Attempts: c.attempts, Wait: wait, Err: err,
	}
}

// lastAnswer describes what err says the service answered, its status
// and error code and message; ok is false when err holds no answer.
func lastAnswer(err error) (answer string, ok bool) {
	var status interface{ HTTPStatusCode() int }
	var api smithy.APIError
	hasStatus, hasAPI := errors.As(err, &status), errors.As(err, &api)
	if hasAPI {
		answer = api.ErrorCode()
		if msg := api.ErrorMessage(); msg != "" {
			answer += ": " + msg
		}
	}
	switch {
	case hasStatus && hasAPI:
		return fmt.Sprintf("%d %s", status.HTTPStatusCode(), answer), true
	case hasStatus:
		return fmt.Sprintf("HTTP %d", status.HTTPStatusCode()), true
	}
	return answer, hasAPI
}
