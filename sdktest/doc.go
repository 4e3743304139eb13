// Package sdktest holds tested recipes for using rtchain under the SDKs Go
// teams call most: the AWS SDK for Go v2 (S3, DynamoDB, SQS), go-github,
// openai-go and anthropic-sdk-go. Each test runs the real SDK, from the
// module proxy, through rtchain against a local fake that checks what the
// real service checks (SigV4 signatures recomputed, payload hashes and
// checksums, the API key and the request's JSON, one effect per create).
// Each recipe is also held against the SDK alone: what the SDK gets
// through on its own, the recipe gets through. It is a module of its own so that
// the SDKs never enter rtchain's go.mod. docs/sdks.md is
// drawn from these tests.
package sdktest
