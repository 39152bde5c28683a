package aoapi_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/su/sutest"
)

// The client against a real SU: every read returns what was scheduled, and refusals come
// back as *aoapi.Error with the SU's status and text.
func TestClientAgainstRealSU(t *testing.T) {
	ctx := context.Background()
	s := sutest.New(t, sutest.Options{BlockHeight: func() uint64 { return 1500000 }})
	api := &aoapi.Client{}
	su := api.SU(s.URL + "/") // a trailing slash is fine

	owner := sutest.Key(t)
	p := s.Process(t, owner, "module-id", "process data")
	r, err := su.Post(ctx, p.Raw())
	if err != nil || r.ID != p.ID() || r.Timestamp != s.Now() {
		t.Fatalf("post process: %+v %v", r, err)
	}
	s.Advance(1000)
	m := sutest.Message(t, owner, p.ID(), "hello", dataitem.Tag{Name: "Action", Value: "Eval"})
	if _, err := su.Post(ctx, m.Raw()); err != nil {
		t.Fatal(err)
	}

	info, err := su.Info(ctx)
	if err != nil || info.Address != s.Address() || info.Timestamp != strconv.FormatInt(s.Now(), 10) {
		t.Fatalf("info: %+v %v", info, err)
	}
	ts, err := su.Timestamp(ctx, p.ID())
	if err != nil || ts.BlockHeight != "000001500000" {
		t.Fatalf("timestamp: %+v %v", ts, err)
	}
	proc, err := su.Process(ctx, p.ID())
	if err != nil || proc.ProcessID != p.ID() || proc.Block != "000001500000" || proc.Owner.Address != dataitem.OwnerAddress(owner.Owner()) ||
		proc.Data == nil || *proc.Data != "process data" {
		t.Fatalf("process: %+v %v", proc, err)
	}
	if v, _ := aoapi.TagValue(proc.Tags, "Scheduler"); v != s.Address() {
		t.Fatalf("process tags: %+v", proc.Tags)
	}
	node, err := su.Message(ctx, m.ID(), p.ID())
	if err != nil || node.Message == nil || node.Message.ID != m.ID() || node.Message.Target != p.ID() || node.Assignment == nil {
		t.Fatalf("message: %+v %v", node, err)
	}
	if n, _ := aoapi.TagValue(node.Assignment.Tags, "Nonce"); n != "1" {
		t.Fatalf("assignment tags: %+v", node.Assignment.Tags)
	}
	latest, err := su.Latest(ctx, p.ID())
	if err != nil || latest.Assignment.ID != node.Assignment.ID {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	page, err := su.Page(ctx, p.ID(), aoapi.PageQuery{Limit: 1})
	if err != nil || len(page.Edges) != 1 || !page.PageInfo.HasNextPage || page.Edges[0].Node.Message.ID != p.ID() {
		t.Fatalf("first page: %+v %v", page, err)
	}
	zero := int64(0)
	page, err = su.Page(ctx, p.ID(), aoapi.PageQuery{FromNonce: &zero})
	if err != nil || len(page.Edges) != 1 || page.PageInfo.HasNextPage || page.Edges[0].Cursor != "1" {
		t.Fatalf("page after nonce 0: %+v %v", page, err)
	}
	p2 := s.Process(t, owner, "module-id", "second")
	s.Submit(t, p2.Raw())
	a, err := su.Assign(ctx, aoapi.Assign{Process: p2.ID(), Message: m.ID(), Exclude: []string{"Data"}})
	if err != nil || a.ID == "" {
		t.Fatalf("assign: %+v %v", a, err)
	}

	// Refusals: the SU's status and {"error"} text.
	_, err = su.Post(ctx, m.Raw())
	var e *aoapi.Error
	if !errors.As(err, &e) || !errors.Is(err, aoapi.ErrStatus) || e.Status != http.StatusBadRequest || e.Text == "" || len(e.Body) == 0 {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := su.Assign(ctx, aoapi.Assign{Process: p.ID(), Message: m.ID(), BaseLayer: true}); aoapi.StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("base-layer assign: %v", err)
	}
	if _, err := su.Process(ctx, m.ID()); aoapi.StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("unknown process: %v", err)
	}

	// A middleware stages faults; an answer over the limit is refused unread.
	s.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/timestamp" {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	if _, err := su.Timestamp(ctx, p.ID()); aoapi.StatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("staged 503: %v", err)
	}
	small := (&aoapi.Client{MaxResponseBytes: 10}).SU(s.URL)
	if _, err := small.Process(ctx, p.ID()); !errors.Is(err, aoapi.ErrTooLarge) {
		t.Fatalf("oversize answer: %v", err)
	}
	s.Close()
	if _, err := su.Info(ctx); !errors.Is(err, aoapi.ErrNoAnswer) || aoapi.StatusOf(err) != 0 {
		t.Fatalf("closed SU: %v", err)
	}
	if _, err := (&aoapi.Client{}).SU("http://[::1").Info(ctx); !errors.Is(err, aoapi.ErrBadURL) {
		t.Fatalf("bad URL: %v", err)
	}
}
