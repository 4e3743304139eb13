package rtaws

import (
	"context"
	"reflect"

	awsmiddle "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// scopeID names AddScope's middleware in a stack.
const scopeID = "rtaws.Scope"

// resourceFields are the input fields that name what a call is for, in
// the order they are looked for: one table, queue, bucket, stream, topic or
// function has its own limits at AWS.
var resourceFields = [...]string{
	"TableName", "QueueUrl", "Bucket", // DynamoDB, SQS, S3
	"StreamARN", "StreamName", "TopicArn", "FunctionName", // Kinesis, SNS, Lambda
}

// AddScope adds to stack the middleware that the retryer of NewRetryer
// needs: it names the resource of each call, read from the operation's
// input (TableName, QueueUrl, Bucket, StreamARN, StreamName, TopicArn or
// FunctionName, the first set; none for an operation on several, such as
// BatchWriteItem), and keeps the call's attempt count. It has the type of
// an APIOptions entry, for aws.Config.APIOptions (config.WithAPIOptions) or
// a client's Options.APIOptions; a stack that has it already is left as it
// is.
func AddScope(stack *middleware.Stack) error {
	if _, ok := stack.Initialize.Get(scopeID); ok {
		return nil
	}
	return stack.Initialize.Add(scopeMiddleware{}, middleware.After)
}

type scopeMiddleware struct{}

func (scopeMiddleware) ID() string { return scopeID }

func (scopeMiddleware) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
	middleware.InitializeOutput, middleware.Metadata, error,
) {
	c := &call{resource: resourceOf(in.Parameters)}
	defer c.forget()
	return next.HandleInitialize(middleware.WithStackValue(ctx, callKey{}, c), in)
}

type callKey struct{}

// call is the state of one operation call, shared by its attempts. The
// SDK makes a call's attempts one after the other on one goroutine, so it
// needs no lock.
type call struct {
	resource string
	attempts int    // attempts begun
	key      string // the budget's target; set by the first attempt
	pending  *drawnWait
}

// callOf returns the call that ctx belongs to, or nil outside AddScope.
func callOf(ctx context.Context) *call {
	c, _ := middleware.GetStackValue(ctx, callKey{}).(*call)
	return c
}

// begin counts an attempt; it reports whether it is the call's first, and
// names the call's scope then.
func (c *call) begin(ctx context.Context) bool {
	c.attempts++
	if c.attempts > 1 {
		return false
	}
	c.key = awsmiddle.GetServiceID(ctx) + " " + awsmiddle.GetRegion(ctx) + " " +
		awsmiddle.GetOperationName(ctx) + " " + c.resource
	return true
}

// forget drops the wait drawn for the call's last retry if the SDK never
// asked for it (it always does; this bounds the table if it did not).
func (c *call) forget() {
	if p := c.pending; p != nil {
		p.table.CompareAndDelete(p.err, p)
	}
}

// resourceOf names the resource an operation's input is for, or "": the
// first of resourceFields that the input has, of type string or *string,
// and sets. (A few field lookups by name cost far less than the call's
// signing; a cache of them would be state of the package's.)
func resourceOf(input any) string {
	v := reflect.ValueOf(input)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	for _, name := range resourceFields {
		f := v.FieldByName(name)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			f = f.Elem()
		}
		if f.Kind() == reflect.String && f.String() != "" {
			return f.String()
		}
	}
	return ""
}
