package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/prometheus/common/version"
)

func reset(t *testing.T) {
	saved := [...]string{version.Version, version.Revision, version.Branch, version.BuildUser, version.BuildDate}
	version.Version, version.Revision, version.Branch, version.BuildUser, version.BuildDate = "", "", "", "", ""
	t.Cleanup(func() {
		version.Version, version.Revision, version.Branch, version.BuildUser, version.BuildDate =
			saved[0], saved[1], saved[2], saved[3], saved[4]
	})
}

func TestFill(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		bi                        *debug.BuildInfo
		version, revision, branch string
	}{
		{"go run: nothing recorded", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			"devel", "unknown", "unknown"},
		{"no build info", nil, "devel", "unknown", "unknown"},
		{"go install module@tag", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}},
			"1.2.3", "unknown", "unknown"},
		{"go install module@commit: the pseudo-version carries the commit",
			&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261129175245-ea661ef1c105"}},
			"0.0.0-20261129175245-ea661ef1c105", "ea661ef1c105", "unknown"},
		{"go build in a checkout with changes", &debug.BuildInfo{
			Main: debug.Module{Version: "v0.0.0-20261129175245-ea661ef1c105+dirty"},
			Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "ea661ef1c1058ba6273e32e9dee7fab34b452b2b"},
				{Key: "vcs.modified", Value: "true"},
			}},
			"0.0.0-20261129175245-ea661ef1c105", "ea661ef1c1058ba6273e32e9dee7fab34b452b2b-modified", "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reset(t)
			fill(tc.bi)
			if version.Version != tc.version || version.Revision != tc.revision || version.Branch != tc.branch {
				t.Errorf("got version=%q revision=%q branch=%q, want %q %q %q",
					version.Version, version.Revision, version.Branch, tc.version, tc.revision, tc.branch)
			}
			if version.BuildUser == "" || version.BuildDate == "" {
				t.Errorf("build user %q, date %q: want them filled", version.BuildUser, version.BuildDate)
			}
		})
	}
}

func TestFillKeepsLdflags(t *testing.T) {
	reset(t)
	version.Version, version.Revision, version.Branch = "0.3.0", "abc", "main"
	fill(&debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "def"}}})
	if version.Version != "0.3.0" || version.Revision != "abc" || version.Branch != "main" {
		t.Errorf("-ldflags values overwritten: %s", version.Info())
	}
}
