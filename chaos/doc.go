// Package chaos runs rtchain's default chain through real fault injection:
// an embedded Toxiproxy between the client and a loopback server, resetting,
// stalling, slowing, slicing and cutting connections, while a mixed workload
// checks that no body is corrupted and no payment is applied twice. It is a
// module of its own so that Toxiproxy never enters rtchain's go.mod.
package chaos
