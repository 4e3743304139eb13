package rtaws

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResourceOf(t *testing.T) {
	name := "orders"
	empty := ""
	type ddb struct {
		TableName *string
		Limit     *int32
	}
	type sqs struct{ QueueUrl *string }
	type s3 struct {
		Bucket *string
		Key    *string
	}
	type plain struct{ FunctionName string }
	type wrongType struct{ TableName []byte }
	type both struct {
		Bucket    *string
		TableName *string
	}
	for _, tc := range []struct {
		name  string
		input any
		want  string
	}{
		{"DynamoDB's TableName", &ddb{TableName: &name}, "orders"},
		{"SQS's QueueUrl", &sqs{QueueUrl: &name}, "orders"},
		{"S3's Bucket", &s3{Bucket: &name, Key: &empty}, "orders"},
		{"a string field", &plain{FunctionName: "f"}, "f"},
		{"a struct, not a pointer", ddb{TableName: &name}, "orders"},
		{"unset", &ddb{}, ""},
		{"set empty", &ddb{TableName: &empty}, ""},
		{"not a string", &wrongType{TableName: []byte("x")}, ""},
		{"TableName before Bucket", &both{Bucket: &empty, TableName: &name}, "orders"},
		{"a nil pointer", (*ddb)(nil), ""},
		{"nil", nil, ""},
		{"not a struct", "orders", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, resourceOf(tc.input))
		})
	}
}
