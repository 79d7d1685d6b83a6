package route

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPath(t *testing.T) {
	long := strings.Repeat("g", MaxSegment+1)
	for _, c := range []struct{ in, want string }{
		{"/", "/"},
		{"", "/"},
		{"/slow?seconds=30", "/slow"},
		{"/slow#frag", "/slow"},
		{"/users/42", "/users/:id"},
		{"/users/42/orders/7?x=1", "/users/:id/orders/:id"},
		{"/users/0", "/users/:id"},
		{"/v1/users", "/v1/users"},             // mixed letters and digits are names
		{"/users/42abc", "/users/42abc"},       // not a number
		{"/files/deadbeef", "/files/deadbeef"}, // short hex may be a word
		{"/objects/507f1f77bcf86cd799439011", "/objects/:id"},
		{"/commits/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/commits/:id"},
		{"/u/123e4567-e89b-12d3-a456-426614174000/x", "/u/:id/x"},
		{"/u/123E4567-E89B-12D3-A456-426614174000", "/u/:id"},
		{"/u/123e4567-e89b-12d3-a456-42661417400", "/u/123e4567-e89b-12d3-a456-42661417400"}, // 35 chars
		{"/t/" + long, "/t/:id"},
		{"/t/" + long[1:], "/t/" + long[1:]},
		{"/a//b/", "/a//b/"},
		{"*", "*"},
		{"http://example.com/users/5?q", "/users/:id"},
		{"https://example.com", "/"},
		{"users/5", "/users/:id"},
		{"/caf\xe9/1", "/caf\uFFFD/:id"},
		{"/:id", "/:id"},
	} {
		if got := (&Normalizer{}).Path(c.in); got != c.want {
			t.Errorf("Path(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPathCut(t *testing.T) {
	seg := strings.Repeat("s", 30)
	in := strings.Repeat("/"+seg, 10) // 310 bytes
	got := (&Normalizer{}).Path(in)
	want := strings.Repeat("/"+seg, 5) + "/" + TruncatedSegment // 155 + 4
	if got != want {
		t.Fatalf("Path(%d bytes) = %q (%d), want %q", len(in), got, len(got), want)
	}
	// Exactly MaxPath bytes is kept whole.
	exact := "/" + strings.Repeat("x", MaxSegment-1) + "/" + strings.Repeat("y", MaxSegment-1) + "/" + strings.Repeat("z", MaxPath-2*MaxSegment-1)
	if len(exact) != MaxPath {
		t.Fatalf("test path is %d bytes", len(exact))
	}
	if got := (&Normalizer{}).Path(exact); got != exact {
		t.Errorf("a path of MaxPath bytes was changed to %q", got)
	}
	// Ids are replaced before measuring: a long path of ids fits once they are.
	ids := strings.Repeat("/1234567890123456789", 20)
	if got := (&Normalizer{}).Path(ids); got != strings.Repeat("/:id", 20) {
		t.Errorf("Path(%q) = %q", ids, got)
	}
}

func TestRoute(t *testing.T) {
	n := &Normalizer{}
	for _, c := range []struct{ method, target, want string }{
		{"GET", "/users/42?x", "GET /users/:id"},
		{"POST", "/users", "POST /users"},
		{"", "/users/42", "/users/:id"},
		{"PROPFIND", "/dav", "PROPFIND /dav"},
		{"get", "/", "OTHER /"},
		{"G\x00T", "/", "OTHER /"},
		{strings.Repeat("A", MaxMethod+1), "/", "OTHER /"},
		{"OPTIONS", "*", "OPTIONS *"},
	} {
		if got := n.Route(c.method, c.target); got != c.want {
			t.Errorf("Route(%q, %q) = %q, want %q", c.method, c.target, got, c.want)
		}
	}
}

func TestRules(t *testing.T) {
	rules, err := Compile([]RuleConfig{
		{Match: `^/static/.*`, Replacement: "/static/*"},
		{Match: `^/shop/([a-z]+)/item/[^/]+$`, Replacement: "/shop/$1/item/:slug"},
		{Match: `^/api/v[0-9]+/`, Replacement: "/api/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := NewNormalizer(rules...)
	for _, c := range []struct{ in, want string }{
		{"/static/css/site.css?v=3", "/static/*"},
		{"/shop/books/item/the-go-book", "/shop/books/item/:slug"},
		// Rules run first, then identifiers are replaced in their result.
		{"/api/v2/users/42", "/api/users/:id"},
		{"/other/7", "/other/:id"},
	} {
		if got := n.Path(c.in); got != c.want {
			t.Errorf("Path(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// A rule whose output is not a path still gives one.
	n = NewNormalizer(Rule{Regexp: regexp.MustCompile(`^/login.*`), Replacement: "login"})
	if got := n.Path("/login/x"); got != "/login" {
		t.Errorf("got %q", got)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, rc := range [][]RuleConfig{{{Match: ""}}, {{Match: "("}}} {
		if _, err := Compile(rc); err == nil {
			t.Errorf("Compile(%+v) accepted", rc)
		}
	}
}

// The common case, a path that is already a route, costs no allocation.
func TestPathAllocations(t *testing.T) {
	n := &Normalizer{}
	for _, in := range []string{"/slow?seconds=30", "/api/v1/users/me", "*"} {
		if a := testing.AllocsPerRun(100, func() { _ = n.Path(in) }); a != 0 {
			t.Errorf("Path(%q): %v allocations", in, a)
		}
	}
	if a := testing.AllocsPerRun(100, func() { _ = n.Path("/users/42") }); a != 1 {
		t.Errorf("Path with an id: %v allocations, want the one string", a)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"/", "/slow?seconds=30", "/users/42/orders/7", "*", "http://h/p/1",
		"/u/123e4567-e89b-12d3-a456-426614174000", "/a//b/", "/caf\xe9/1",
		strings.Repeat("/abcdefghijklmnopqrstuvwxyz", 12), strings.Repeat("/7", 100),
		"/objects/507f1f77bcf86cd799439011?x#y", "",
	} {
		f.Add("GET", s)
	}
	rules, err := Compile([]RuleConfig{{Match: `^/static/.*`, Replacement: "/static"}})
	if err != nil {
		f.Fatal(err)
	}
	plain, withRules := &Normalizer{}, NewNormalizer(rules...)
	f.Fuzz(func(t *testing.T, method, target string) {
		for _, n := range []*Normalizer{plain, withRules} {
			p := n.Path(target)
			if len(p) > MaxPath || !utf8.ValidString(p) || strings.ContainsAny(p, "?#") {
				t.Fatalf("Path(%q) = %q: %d bytes, want at most %d of valid UTF-8 without ?#", target, p, len(p), MaxPath)
			}
			if p != "*" && !strings.HasPrefix(p, "/") {
				t.Fatalf("Path(%q) = %q does not start with /", target, p)
			}
			// These rules are idempotent themselves, so the whole normalisation is.
			if again := n.Path(p); again != p {
				t.Fatalf("not idempotent: Path(%q) = %q, Path(%q) = %q", target, p, p, again)
			}
			r := n.Route(method, target)
			if len(r) > MaxRoute || !utf8.ValidString(r) {
				t.Fatalf("Route(%q, %q) = %q: %d bytes", method, target, r, len(r))
			}
			if method != "" && r != Method(method)+" "+p {
				t.Fatalf("Route(%q, %q) = %q, want method and path", method, target, r)
			}
		}
	})
}

func BenchmarkPath(b *testing.B) {
	n := &Normalizer{}
	for _, in := range []string{"/slow?seconds=30", "/users/42/orders/507f1f77bcf86cd799439011"} {
		b.Run(strings.Trim(in[:6], "/?"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = n.Path(in)
			}
		})
	}
}
