package cherrypytest

import (
	"bytes"
	"fmt"
)

// Hostile pages: cpstats documents a broken or malicious target could serve, each under the
// exporter's 10 MiB body limit. Built for loopback servers of the exporter's tests.
const (
	// ManyServers has n running servers on n distinct bind addresses.
	ManyServers = "many-servers"
	// SameBindAddress has n running servers that all report the same bind address.
	SameBindAddress = "same-bind-address"
	// WrongTypes has n servers whose every field has the wrong type.
	WrongTypes = "wrong-types"
	// ManyRequests is a valid page of one server whose application reports n requests: a
	// page the exporter must read to its end, since nothing in it is over a limit.
	ManyRequests = "many-requests"
	// DeepNesting is one valid server and, beside it, a value nested n arrays deep and never
	// closed: a page whose every byte opens one more level.
	DeepNesting = "deep-nesting"
)

// HostilePage returns a cpstats document of kind with n server entries. At n = 100000 it is
// at most 9.6 MiB, under the exporter's 10 MiB body limit.
func HostilePage(kind string, n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 100)
	b.WriteByte('{')
	if kind == ManyRequests {
		b.WriteString(`"Cheroot HTTPServer 1":{"Bind Address":"('127.0.0.1', 8080)","Threads":4,"Threads Idle":0,"Queue":0,"Work Time":1.5},` +
			`"CherryPy Applications":{"Enabled":true,"Total Requests":9,"Current Requests":4,"Requests":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%d":{"End Time":null,"Processing Time":%d.5,"Request-Line":"GET /slow?seconds=600 HTTP/1.1"}`, i, i%100)
		}
		b.WriteString("}}}")
		return b.Bytes()
	}
	if kind == DeepNesting {
		b.WriteString(`"Cheroot HTTPServer 1":{"Bind Address":"('127.0.0.1', 8080)","Threads":4,"Threads Idle":0,"Queue":0},"User":`)
		b.Write(bytes.Repeat([]byte{'['}, n))
		return b.Bytes()
	}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		switch kind {
		case ManyServers:
			fmt.Fprintf(&b, `"Cheroot HTTPServer %d":{"Bind Address":"('h%d', 80)","Threads":4,"Threads Idle":4,"Queue":0}`, i, i)
		case SameBindAddress:
			fmt.Fprintf(&b, `"Cheroot HTTPServer %d":{"Bind Address":"('h', 80)","Threads":4,"Threads Idle":4,"Queue":0}`, i)
		case WrongTypes:
			fmt.Fprintf(&b, `"Cheroot HTTPServer %d":{"Bind Address":8080,"Threads":"4","Threads Idle":"4","Queue":"0"}`, i)
		default:
			panic("cherrypytest: unknown hostile page " + kind)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}
