package rtaws_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/rtaws"
	"github.com/rtchain/rtchain/transport"
)

func TestGiveUpErrorText(t *testing.T) {
	answered := func(status int, code, msg string) error {
		return &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: msg},
		}
	}
	for _, tc := range []struct {
		name string
		err  rtaws.GiveUpError
		want string
	}{
		{"budget", rtaws.GiveUpError{Reason: transport.GiveUpBudget, Service: "DynamoDB", Operation: "PutItem", Resource: "orders",
			Attempts: 1, Err: answered(400, "ProvisionedThroughputExceededException", "Rate exceeded")},
			"rtaws: DynamoDB PutItem on orders not retried after 1 attempt: the client spent its retry budget (a share of its calls) for it; " +
				"the service last answered 400 ProvisionedThroughputExceededException: Rate exceeded"},
		{"deadline", rtaws.GiveUpError{Reason: transport.GiveUpDeadline, Service: "SQS", Operation: "SendMessage",
			Resource: "https://sqs.us-east-1.amazonaws.com/1/q", Attempts: 2, Wait: 1234567 * time.Microsecond, Err: answered(500, "InternalError", "")},
			"rtaws: SQS SendMessage on https://sqs.us-east-1.amazonaws.com/1/q not retried after 2 attempts: the wait of 1.235s would end " +
				"after the context's deadline; the service last answered 500 InternalError"},
		{"no resource, no answer", rtaws.GiveUpError{Reason: transport.GiveUpBudget, Service: "DynamoDB", Operation: "BatchWriteItem",
			Attempts: 1, Err: &smithyhttp.RequestSendError{Err: errors.New("dial tcp: connection refused")}},
			"rtaws: DynamoDB BatchWriteItem not retried after 1 attempt: the client spent its retry budget (a share of its calls) for it; " +
				"the last attempt got no answer: request send failed, dial tcp: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.err.Error())
			assert.Same(t, tc.err.Err, errors.Unwrap(&tc.err))
		})
	}
}
