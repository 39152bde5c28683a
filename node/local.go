package node

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// localTransport serves the node's calls to its own units (the CU reading the SU's
// schedule, the MU sending to the SU and reading results from the CU) by calling the node's
// handler in-process: the same requests, handlers and JSON as over the network, without the
// loopback sockets and HTTP framing, which cost a large share of the CPU of a message on a
// one-node network. Requests for other hosts go to next.
type localTransport struct {
	host    string // host:port of the node's own base URL
	handler func() http.Handler
	next    http.RoundTripper
}

func (t *localTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h := t.handler()
	if req.URL.Host != t.host || req.URL.Scheme != "http" || h == nil {
		return t.next.RoundTrip(req)
	}
	// The handlers see what a server would give them.
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = t.host
	in.Host = t.host
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := &bufferedResponse{header: http.Header{}}
	h.ServeHTTP(w, in)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.header.Set("Content-Length", strconv.Itoa(w.body.Len()))
	return &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(&w.body),
		ContentLength: int64(w.body.Len()),
		Request:       req,
	}, nil
}

// bufferedResponse is the ResponseWriter of an in-process request.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header { return w.header }

func (w *bufferedResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferedResponse) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
