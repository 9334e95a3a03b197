// Package semvec holds the domain vocabulary shared by every layer of
// semvec-go: the caller identity and licence tiers, the error kinds that the
// HTTP layer maps to status codes, and the version string.
//
// It imports nothing from this module; actors, http, persistence and cmd import
// it. See README.md and docs/ for the service itself.
package semvec

// Version is the server version reported by /v1/health and `semvec version`.
// Release builds override it with -ldflags "-X github.com/semvec-go/semvec.Version=…".
var Version = "0.1.0-dev"
