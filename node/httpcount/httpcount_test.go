package httpcount

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestCountsByPatternAndStatus(t *testing.T) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_requests_total", Help: "h"}, []string{"route", "code"})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("GET /silent", func(w http.ResponseWriter, r *http.Request) {})
	h := Handler(c, mux, "/")
	for _, req := range []struct{ method, path string }{
		{"GET", "/items/a"}, {"GET", "/items/b"}, {"POST", "/items"}, {"GET", "/nowhere"}, {"GET", "/silent"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	for _, want := range []struct {
		route, code string
		n           float64
	}{
		{"GET /items/{id}", "200", 2}, {"POST /items", "418", 1}, {Unmatched, "404", 1}, {"GET /silent", "200", 1},
	} {
		var m dto.Metric
		if err := c.WithLabelValues(want.route, want.code).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != want.n {
			t.Errorf("%s %s: %v, want %v", want.route, want.code, got, want.n)
		}
	}
	ch := make(chan prometheus.Metric, 10)
	c.Collect(ch)
	if n := len(ch); n != 4 {
		t.Errorf("%d series, want 4", n)
	}
}
