// Package sdktest holds tested recipes for using rtchain under the SDKs Go
// teams call most: the AWS SDK for Go v2 (S3) and go-github. Each test runs
// the real SDK, from the module proxy, through rtchain against a local fake
// that checks what the real service checks (SigV4 signatures recomputed,
// payload hashes, one effect per create). It is a module of its own so that
// the SDKs never enter rtchain's go.mod. The README's "With SDKs" section is
// drawn from these tests.
package sdktest
