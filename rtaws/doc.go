// Package rtaws puts the AWS SDK for Go v2's retry loop on rtchain's
// policy. The SDK keeps its loop (it signs each attempt anew and reads
// AWS's error codes, which a transport under it cannot: DynamoDB names its
// throttles in the body of a 400) and its classification of what may be
// retried; rtaws replaces what decides how often and when:
//
//   - a retry budget (transport.RetryBudget: a share of calls, with a floor
//     a second) instead of the SDK's retry quota (500 tokens, 5 or 14 a
//     retry, refilled only by successes), so that an outage neither
//     multiplies the load nor leaves the client unable to retry once the
//     service is back;
//   - budgets kept per scope: service, region, operation and resource (the
//     DynamoDB table, SQS queue, S3 bucket, Kinesis stream, SNS topic or
//     Lambda function of the call), so that one table's hot partition does
//     not spend another table's retries, and nothing slows the client as
//     a whole (the SDK's adaptive mode does);
//   - full-jitter backoff, with a longer base after a throttle, and waits
//     that never end after the context's deadline: the call ends at once
//     instead;
//   - an error that says why a call was not retried and what the service
//     last answered (GiveUpError).
//
// Entry points: NewRetryer (Options) returns the aws.RetryerV2; Retryer
// returns it as aws.Config.Retryer takes it; AddScope is the APIOptions
// middleware that names each call's resource for it. A client needs both:
//
//	cfg.Retryer = rtaws.Retryer(rtaws.Options{})
//	cfg.APIOptions = append(cfg.APIOptions, rtaws.AddScope)
//	client := dynamodb.NewFromConfig(cfg)
//
// (config.LoadDefaultConfig takes the same through config.WithRetryer and
// config.WithAPIOptions.) It is a module of its own, so that the SDK never
// enters rtchain's main module.
package rtaws
