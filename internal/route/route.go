// Package route turns what a pool's workers are running into the bounded "route" label of the
// contract's "Which requests hold the workers" series: a normalised name per request
// (Normalizer) and, at each scrape, the routes holding the most workers with the rest summed
// into route="other" (Tally).
//
// A route is "METHOD /path" when the method is known, e.g. "GET /users/:id", the same shape
// as a Go 1.22 http.ServeMux pattern registered with a method ("GET /users/{id}"): a slow
// POST and a fast GET on the same path are different culprits with different remedies, and
// the method at most multiplies the handful of routes an application has by a handful of
// methods, inside the top-N bound anyway.
package route

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Limits of a normalised route. They bound the label's length whatever the client sends, so
// that a hostile request cannot make a series megabytes long.
const (
	// MaxSegment is the longest path segment kept as it is; a longer one is an opaque token
	// (a signed link, a base64 id, a slug) and becomes IDSegment.
	MaxSegment = 64
	// MaxPath is the longest normalised path, in bytes. A longer path keeps its leading
	// segments, cut at a segment boundary, and ends in TruncatedSegment.
	MaxPath = 160
	// MaxMethod is the longest method kept; anything longer, or not an upper-case token,
	// becomes OtherMethod.
	MaxMethod = 16
	// MaxRoute bounds what Route returns.
	MaxRoute = MaxMethod + 1 + MaxPath
)

const (
	// IDSegment replaces identifier-like segments: numbers, UUIDs, long hex strings.
	IDSegment = ":id"
	// TruncatedSegment ends a path cut to MaxPath.
	TruncatedSegment = "..."
	// OtherMethod stands for a method that is not a short upper-case token.
	OtherMethod = "OTHER"
)

// minHex is the length from which a segment of hex digits counts as an identifier (object
// ids are 24, md5 32, sha1 40); shorter ones may be words ("cafe", "deadbeef" in a demo).
const minHex = 16

// Rule is a user rewrite: every match of Regexp in the request's path (query string
// removed) is replaced by Replacement, which may refer to groups as in
// regexp.Regexp.ReplaceAllString ("$1"). Rules run before the built-in normalisation, in order,
// each on the result of the previous one.
type Rule struct {
	Regexp      *regexp.Regexp
	Replacement string
}

// RuleConfig is a Rule as written in a configuration file.
type RuleConfig struct {
	// Match is a Go regular expression (RE2 syntax), unanchored: write ^ and $ to anchor it.
	Match string `yaml:"match"`
	// Replacement may use $1, ${name} for the groups of Match.
	Replacement string `yaml:"replacement"`
}

// Compile checks and compiles rules as written in a configuration file.
func Compile(rules []RuleConfig) ([]Rule, error) {
	out := make([]Rule, 0, len(rules))
	for i, r := range rules {
		if r.Match == "" {
			return nil, fmt.Errorf("route rule %d: empty match", i+1)
		}
		re, err := regexp.Compile(r.Match)
		if err != nil {
			return nil, fmt.Errorf("route rule %d: %w", i+1, err)
		}
		out = append(out, Rule{Regexp: re, Replacement: r.Replacement})
	}
	return out, nil
}

// Normalizer maps requests to routes. The zero value applies no user rule; a Normalizer is
// safe for concurrent use.
type Normalizer struct {
	rules []Rule
}

// NewNormalizer returns a Normalizer that applies rules, in order, before the built-in
// normalisation.
func NewNormalizer(rules ...Rule) *Normalizer {
	return &Normalizer{rules: rules}
}

// Route is the route of a request: its method (see Method) and a space, then Path(target).
// An empty method gives the path alone. The result is at most MaxRoute bytes of valid UTF-8.
func (n *Normalizer) Route(method, target string) string {
	p := n.Path(target)
	if method == "" {
		return p
	}
	return Method(method) + " " + p
}

// Method returns method if it is a plausible HTTP method (1 to MaxMethod upper-case letters,
// '-' or '_'), else OtherMethod: client-chosen garbage must not become label values.
func Method(method string) string {
	if method == "" || len(method) > MaxMethod {
		return OtherMethod
	}
	for i := 0; i < len(method); i++ {
		if c := method[i]; (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return OtherMethod
		}
	}
	return method
}

// Path normalises a request target (as in an HTTP request line): the query string and
// fragment are removed, an absolute-form target ("http://host/p") keeps only its path, the
// user rules run, invalid UTF-8 is replaced, identifier-like segments (numbers, UUIDs, hex
// strings of 16 digits or more, segments longer than MaxSegment) become IDSegment, and the
// result is cut to MaxPath bytes at a segment boundary. "*" (OPTIONS *) stays "*"; a target
// that is not a path gets a leading "/".
//
// Without rules, Path is idempotent: Path(Path(t)) == Path(t). It allocates only when it
// changes something beyond cutting the query string.
func (n *Normalizer) Path(target string) string {
	p := target
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if p == "*" {
		return p
	}
	if !strings.HasPrefix(p, "/") {
		// Absolute form: scheme://authority/path.
		if i := strings.Index(p, "://"); i >= 0 {
			rest := p[i+3:]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				p = rest[j:]
			} else {
				p = "/"
			}
		}
	}
	if n != nil {
		for _, r := range n.rules {
			p = r.Regexp.ReplaceAllString(p, r.Replacement)
		}
	}
	if !utf8.ValidString(p) {
		p = strings.ToValidUTF8(p, "\uFFFD")
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if clean(p) {
		return p
	}
	return rebuild(p)
}

// clean reports whether p (starting with "/") is already normalised, so that the common case
// costs one scan and no allocation.
func clean(p string) bool {
	if len(p) > MaxPath {
		return false
	}
	for seg := range segments(p) {
		if replace(seg) {
			return false
		}
	}
	return true
}

// rebuild writes the normalised p (starting with "/"): identifier-like segments replaced,
// then, if that is still longer than MaxPath, cut after the last whole segment that leaves
// room for "/" + TruncatedSegment. Every kept segment is at most MaxSegment bytes, so a cut
// always keeps what fits.
func rebuild(p string) string {
	var b strings.Builder
	b.Grow(min(len(p), MaxPath))
	for seg := range segments(p) {
		if replace(seg) {
			seg = IDSegment
		}
		b.WriteByte('/')
		b.WriteString(seg)
		if b.Len() > MaxPath+1+MaxSegment {
			break // already past any cut point: the rest cannot be kept
		}
	}
	s := b.String()
	if len(s) <= MaxPath {
		return s
	}
	cut := strings.LastIndexByte(s[:MaxPath-len(TruncatedSegment)], '/')
	return s[:cut] + "/" + TruncatedSegment
}

// segments yields the segments of p, which starts with "/": "/a//b/" gives "a", "", "b", "".
func segments(p string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		rest := p[1:]
		for {
			i := strings.IndexByte(rest, '/')
			if i < 0 {
				yield(rest)
				return
			}
			if !yield(rest[:i]) {
				return
			}
			rest = rest[i+1:]
		}
	}
}

// replace reports whether a segment is identifier-like.
func replace(seg string) bool {
	if len(seg) > MaxSegment {
		return true
	}
	if seg == "" {
		return false
	}
	return isNumber(seg) || isUUID(seg) || (len(seg) >= minHex && isHex(seg))
}

func isNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hexDigit(s[i]) {
			return false
		}
	}
	return true
}

func hexDigit(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// isUUID matches the 8-4-4-4-12 hex form, any case.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !hexDigit(s[i]) {
				return false
			}
		}
	}
	return true
}
