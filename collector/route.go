package collector

import (
	"net/http"

	"github.com/poolwatch/poolwatch/internal/route"
)

// pathNormalizer applies the built-in normalisation only: users who need rewrite rules write
// their own function for WithRoute.
var pathNormalizer = route.NewNormalizer()

// PathRoute names a request by its method and normalised path, "GET /users/:id": the query
// string is dropped, numbers, UUIDs and long hex segments become ":id", and the length is
// bounded. It is meant for WithRoute in front of handlers that have no ServeMux pattern. It
// allocates only for a path it changes.
func PathRoute(r *http.Request) string { return pathNormalizer.Route(r.Method, r.URL.Path) }

// MuxRoute names a request by the pattern mux routes it to ("GET /users/{id}"), for a Limiter
// that wraps the mux itself, where r.Pattern is not set yet: WithRoute(MuxRoute(mux)). It
// costs one more match in mux per request; a request mux has no pattern for gets no route.
func MuxRoute(mux *http.ServeMux) func(*http.Request) string {
	return func(r *http.Request) string {
		_, pattern := mux.Handler(r)
		return pattern
	}
}
