// Package buildinfo fills in the version information of prometheus/common/version, which
// the binaries print (--version, the startup log, the landing page) and expose as
// *_build_info. `make build` and the Dockerfile set it with -ldflags -X; a binary built
// without them (`go run`, `go install module@version`, a plain `go build`) gets what the Go
// toolchain recorded in it instead, so that no field is left empty.
package buildinfo

import (
	"runtime/debug"
	"strings"

	"github.com/prometheus/common/version"
)

// Fill sets every empty field of prometheus/common/version from the binary's build
// information: the module version (a release tag, or a pseudo-version that carries the
// commit), the VCS revision Go stamps into `go build` binaries built in a checkout, and
// "unknown" for what Go does not record (the branch, and everything under `go run`).
// Call it first thing in main.
func Fill() {
	bi, _ := debug.ReadBuildInfo()
	fill(bi)
}

func fill(bi *debug.BuildInfo) {
	var mainVersion, revision, modified string
	if bi != nil {
		mainVersion = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	if revision == "" {
		revision = pseudoVersionRevision(mainVersion)
	}
	if revision != "" && modified == "true" {
		revision += "-modified"
	}
	if version.Version == "" {
		switch mainVersion {
		case "", "(devel)":
			// `go run` and builds outside a module version: a development build.
			version.Version = "devel"
		default:
			version.Version = strings.TrimPrefix(strings.TrimSuffix(mainVersion, "+dirty"), "v")
		}
	}
	if version.Revision == "" {
		if revision == "" {
			revision = "unknown"
		}
		version.Revision = revision
	}
	if version.Branch == "" {
		// Go records no branch; only -ldflags from a checkout (make build) can tell it.
		version.Branch = "unknown"
	}
	if version.BuildUser == "" {
		version.BuildUser = "unknown"
	}
	if version.BuildDate == "" {
		version.BuildDate = "unknown"
	}
}

// pseudoVersionRevision returns the commit a pseudo-version such as
// v0.0.0-20261129175245-ea661ef1c105 names (its 12-hex-digit last part), or "".
func pseudoVersionRevision(v string) string {
	v = strings.TrimSuffix(v, "+dirty")
	i := strings.LastIndexByte(v, '-')
	if i < 0 || len(v)-i-1 != 12 {
		return ""
	}
	rev := v[i+1:]
	for _, c := range rev {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return ""
		}
	}
	return rev
}
