package cu

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/su"
)

// TestWithAonodeSU runs the CU against this repository's SU (sharing one store, as in a
// node), so the JSON, paging and hash chain of the real scheduler are what the CU reads.
func TestWithAonodeSU(t *testing.T) {
	db := openStore(t, "")
	defer db.Close()
	suKey := sha256.Sum256([]byte("su key"))
	clock := int64(1_700_000_000_000)
	s, err := su.New(su.Options{
		DB: db, Signer: dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(suKey[:])),
		Clock:       func() int64 { clock += 1000; return clock },
		BlockHeight: func() uint64 { return 1_500_000 },
		Logger:      quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	suSrv := httptest.NewServer(s.Handler())
	defer suSrv.Close()

	gw := newFakeGateway(t)
	mod := gw.addModule([]byte("fake wasm"), moduleTags(string(fakeFormat),
		Tag{Name: "Memory-Limit", Value: "1-mb"}, Tag{Name: "Compute-Limit", Value: "1"}))
	userKey := sha256.Sum256([]byte("user key"))
	user := dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(userKey[:]))
	submit := func(f dataitem.Fields) string {
		it, err := dataitem.Sign(user, f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Submit(context.Background(), it.Raw()); err != nil {
			t.Fatal(err)
		}
		return it.ID()
	}
	pid := submit(dataitem.Fields{Data: []byte("boot"), Tags: []dataitem.Tag{
		{Name: "Data-Protocol", Value: "ao"}, {Name: "Variant", Value: "ao.TN.1"}, {Name: "Type", Value: "Process"},
		{Name: "Module", Value: mod}, {Name: "Scheduler", Value: s.Address()},
	}})
	target, _ := dataitem.DecodeID(pid)
	var ids []string
	for i := range 25 {
		ids = append(ids, submit(dataitem.Fields{Target: target[:], Data: []byte("hi " + strconv.Itoa(i)), Tags: []dataitem.Tag{
			{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"}, {Name: "Action", Value: "Count"},
		}}))
	}

	src, err := NewSUClient(suSrv.URL, SUClientOptions{PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := NewGateway(gw.srv.URL, nil, 0)
	rt := &fakeRuntime{record: true}
	c, err := New(Config{
		Store: db, Signer: testSigner(), Source: src, Gateway: g,
		Runtimes: map[module.Format]Runtime{fakeFormat: rt}, Registerer: prometheus.NewRegistry(), Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, err := c.Result(ctx, pid, ids[24])
	if err != nil {
		t.Fatal(err)
	}
	if rec.Nonce != 25 || !strings.Contains(string(rec.Result), "count=26 ") {
		t.Fatalf("last result: slot %d %s", rec.Nonce, rec.Result)
	}
	// The module saw the process first, then the messages with their assignment fields.
	var first, second map[string]any
	_ = json.Unmarshal(rt.seen[0], &first)
	_ = json.Unmarshal(rt.seen[1], &second)
	if first["Id"] != pid || second["Id"] != ids[0] || second["Nonce"] != float64(1) ||
		second["Block-Height"] != float64(1_500_000) || second["Owner"] != addressOfSigner(user) || second["Data"] != "hi 0" {
		t.Fatalf("messages seen:\n%s\n%s", rt.seen[0], rt.seen[1])
	}
}
