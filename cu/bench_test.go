package cu

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aonode/aonode/cu/module"
	"github.com/aonode/aonode/store"
)

// benchSetup is a fake SU and gateway with one process of n messages.
func benchSetup(b *testing.B, n int, format module.Format, wasm []byte, tags []Tag, data func(i int) (string, []Tag)) (*fakeSU, *fakeGateway, string) {
	su := newFakeSU(b)
	gw := newFakeGateway(b)
	mod := gw.addModule(wasm, moduleTags(string(format), tags...))
	pid := su.addProcess(mod, false)
	owner := su.processOwner(pid)
	for i := range n {
		d, t := data(i)
		su.addMessageBy(pid, owner, 1000, d, t...)
	}
	return su, gw, pid
}

func benchCU(b *testing.B, db *store.DB, su *fakeSU, gw *fakeGateway, rts map[module.Format]Runtime) *CU {
	src, err := NewSUClient(su.URL(), SUClientOptions{PageSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	g, err := NewGateway(gw.srv.URL, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Config{
		Store: db, Signer: testSigner(), Source: src, Gateway: g, Runtimes: rts,
		CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, CommitEvery: 256,
		Registerer: prometheus.NewRegistry(), Logger: quietLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// benchColdStart measures catching up with a process of n messages from nothing, and
// resuming the same process from a checkpoint at its last slot.
func benchColdStart(b *testing.B, n int, rts func() map[module.Format]Runtime, format module.Format, wasm []byte, tags []Tag, data func(int) (string, []Tag)) {
	su, gw, pid := benchSetup(b, n, format, wasm, tags, data)
	ctx := context.Background()
	b.Run("from-nothing", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			db := openStore(b, b.TempDir())
			c := benchCU(b, db, su, gw, rts())
			b.StartTimer()
			if _, err := c.catchUp(ctx, pid, -1); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = c.Close()
			_ = db.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(n), "messages/op")
	})
	// from-checkpoint starts a new runtime each time (a process restart: the module is
	// compiled again, or read from the runtime's disk cache when it has one);
	// from-checkpoint-warm reuses one (the compiled code is in memory). Both resume from one
	// store, caught up and checkpointed once.
	var db *store.DB
	var shared map[module.Format]Runtime
	dir := b.TempDir() // before the Cleanup below, which must run first: close, then remove
	b.Cleanup(func() {
		if db != nil {
			_ = db.Close()
		}
	})
	checkpointed := func(b *testing.B) {
		if db != nil {
			return
		}
		db = openStore(b, dir)
		shared = rts()
		c := benchCU(b, db, su, gw, shared)
		if _, err := c.catchUp(ctx, pid, -1); err != nil {
			b.Fatal(err)
		}
		if err := c.Close(); err != nil { // writes the checkpoint at the last slot
			b.Fatal(err)
		}
	}
	for _, warm := range []bool{false, true} {
		name := "from-checkpoint"
		if warm {
			name += "-warm"
		}
		b.Run(name, func(b *testing.B) {
			checkpointed(b)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				r := shared
				if !warm {
					r = rts()
				}
				c := benchCU(b, db, su, gw, r)
				b.StartTimer()
				// Ready to serve: definitions loaded, memory restored, instance live.
				if err := readyToServe(ctx, c, pid); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = c.Close()
				b.StartTimer()
			}
		})
	}
}

func BenchmarkColdStartFake(b *testing.B) {
	rts := func() map[module.Format]Runtime { return map[module.Format]Runtime{fakeFormat: &fakeRuntime{}} }
	benchColdStart(b, 1000, rts, fakeFormat, []byte("fake wasm"),
		[]Tag{{Name: "Memory-Limit", Value: "1-mb"}, {Name: "Compute-Limit", Value: "1"}},
		func(int) (string, []Tag) { return "hello", []Tag{{Name: "Action", Value: "Count"}} })
}

// readyToServe catches pid up and makes sure its instance is live.
func readyToServe(ctx context.Context, c *CU, pid string) error {
	p, err := c.catchUp(ctx, pid, -1)
	if err != nil {
		return err
	}
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	if p.def == nil {
		if err := p.load(ctx); err != nil {
			return err
		}
	}
	if p.inst != nil {
		return nil
	}
	inst, err := p.def.mod.Instantiate(ctx, p.mem)
	p.inst = inst
	return err
}

// BenchmarkColdStartAOS is issue 16's cold start of a real aos process (aos.wasm, format 2,
// metered) with 10,000 messages (AONODE_COLDSTART_MESSAGES to change): from nothing
// (every message fetched from the SU over HTTP and evaluated) and from a checkpoint at its
// last slot in the local store. Each runtime keeps its compiled code in one on-disk cache,
// as a restarted node does (<data>/wasm-cache), so from-checkpoint is a node restart with
// the cache warm. The setup evaluates the 10,000 messages once (about a minute here):
//
//	go test -run '^$' -bench 'ColdStartAos/from-checkpoint$' -benchtime 3x ./cu
func BenchmarkColdStartAOS(b *testing.B) {
	wasm := aosWasm(b)
	n := 10000
	if s := os.Getenv("AONODE_COLDSTART_MESSAGES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("AONODE_COLDSTART_MESSAGES=%q", s)
		}
		n = v
	}
	cacheDir := b.TempDir()
	var closers []func(context.Context) error
	b.Cleanup(func() {
		for _, c := range closers {
			_ = c(context.Background())
		}
	})
	rts := func() map[module.Format]Runtime {
		r, closeRT, err := DefaultRuntimesIn(context.Background(), cacheDir)
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, closeRT)
		return r
	}
	benchColdStart(b, n, rts, module.Emscripten2, wasm, aosTags, func(i int) (string, []Tag) {
		// A tag of its own per message: the fake SU gives a repeated item a new anchor by
		// trying one after another, which over 10,000 equal messages is quadratic.
		return "Counter = (Counter or 0) + 1", []Tag{{Name: "Action", Value: "Eval"}, {Name: "N", Value: strconv.Itoa(i)}}
	})
}
