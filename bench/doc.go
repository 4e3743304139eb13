// Package bench measures rtchain against the libraries Go teams would pick
// instead (hashicorp/go-retryablehttp, PuerkitoBio/rehttp,
// failsafe-go/failsafehttp) and against a bare pooled transport, in one
// process, against the same loopback servers. It is a module of its own so
// that the peers never enter rtchain's go.mod. See README.md for the results
// and the commands that reproduce them.
package bench
