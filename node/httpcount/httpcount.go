// Package httpcount counts a unit's HTTP requests by route and status code. The route is the
// pattern of the http.ServeMux that served the request, so that the label set stays small
// whatever paths clients send.
package httpcount

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Unmatched is the route label of a request no pattern of the mux matched.
const Unmatched = "unmatched"

// Handler serves mux and adds one to c{route, code} per request. c has the labels "route"
// and "code". Patterns listed in catchAll count as Unmatched too (a "/" that only answers
// 404, say).
func Handler(c *prometheus.CounterVec, mux *http.ServeMux, catchAll ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		// ServeMux records the pattern it matched on the request it was given.
		route := r.Pattern
		if route == "" || slices.Contains(catchAll, route) {
			route = Unmatched
		}
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		c.WithLabelValues(route, strconv.Itoa(code)).Inc()
	})
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer underneath (Flush, deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
