//go:build !amd64 || amd64.v3

package poolsim

// pinnedFloats: see floats_pinned_test.go.
const pinnedFloats = false
