//go:build amd64 && !amd64.v3

package poolsim

// pinnedFloats: the series digests of TestWithoutResizeSeriesUnchanged were computed on
// amd64 without fused multiply-add (GOAMD64 below v3); elsewhere the last bit of a float may
// differ, and the digests are not compared.
const pinnedFloats = true
