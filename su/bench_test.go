package su

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

var (
	benchRSAOnce sync.Once
	benchRSA     dataitem.Signer
	benchRSAErr  error
)

func benchSigner(b *testing.B, kind string) dataitem.Signer {
	if kind == "ed25519" {
		return testSigner(1)
	}
	benchRSAOnce.Do(func() { benchRSA, benchRSAErr = dataitem.GenerateKey(dataitem.Arweave) })
	if benchRSAErr != nil {
		b.Fatal(benchRSAErr)
	}
	return benchRSA
}

// BenchmarkSchedule measures durable assignments through the Local sequencer on a store in a
// temp dir (every acknowledged slot fsynced), for 1, 8 and 64 concurrent clients, with an
// ed25519 and an Arweave RSA-4096 SU key. "procs" gives each client its own process;
// "oneproc" sends every client to the same process. Items are signed and parsed before the
// timer starts, so the figures are the SU's work: assign, sign, commit.
//
//	go test -run '^$' -bench BenchmarkSchedule -benchtime 20000x ./su
func BenchmarkSchedule(b *testing.B) {
	for _, kind := range []string{"ed25519", "rsa"} {
		for _, mode := range []string{"procs", "oneproc"} {
			for _, clients := range []int{1, 8, 64} {
				b.Run(fmt.Sprintf("key=%s/%s/clients=%d", kind, mode, clients), func(b *testing.B) {
					benchSchedule(b, benchSigner(b, kind), mode == "oneproc", clients)
				})
			}
		}
	}
}

func benchSchedule(b *testing.B, signer dataitem.Signer, oneProc bool, clients int) {
	opts := store.DefaultOptions(b.TempDir())
	opts.GCInterval = -1
	db, err := store.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	seq, err := NewLocal(LocalOptions{DB: db, Signer: signer})
	if err != nil {
		b.Fatal(err)
	}
	client := testSigner(7)
	ctx := context.Background()
	nprocs := clients
	if oneProc {
		nprocs = 1
	}
	pids := make([]string, nprocs)
	for i := range pids {
		p, err := dataitem.Sign(client, dataitem.Fields{Tags: []dataitem.Tag{
			{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"},
			{Name: "Module", Value: handAID0}, {Name: "Scheduler", Value: AddressOfOwner(signer.Owner())},
			{Name: "N", Value: strconv.Itoa(i)},
		}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := seq.Schedule(ctx, Request{Process: p.ID(), Item: p}); err != nil {
			b.Fatal(err)
		}
		pids[i] = p.ID()
	}
	msgs := make([]Request, b.N)
	for i := range msgs {
		pid := pids[i%nprocs]
		target, _ := dataitem.DecodeID(pid)
		m, err := dataitem.Sign(client, dataitem.Fields{Target: target[:], Data: []byte("1 + 1"), Tags: []dataitem.Tag{
			{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"},
			{Name: "Action", Value: "Eval"}, {Name: "N", Value: strconv.Itoa(i)},
		}})
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = Request{Process: pid, Item: m}
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	// Requests go round-robin over the processes, so in "procs" mode the clients in flight
	// are spread over as many processes as there are clients.
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if _, err := seq.Schedule(ctx, msgs[i]); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "assignments/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	// CPU per assignment says what the machine could do when the wall-clock figure is
	// distorted by other load: 2 cores / cpu-µs = the CPU-bound ceiling.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPost measures POST / through the SU's HTTP handler in process (no sockets): body
// read, ANS-104 parse and signature verification of the client's item, intake, the durable
// slot (store in a temp dir) and the JSON answer, from 64 concurrent clients, one process
// each, with an ed25519 SU key. The difference to BenchmarkSchedule is the HTTP-side work;
// what net/http and the loopback add on top shows in scripts/su-bench.sh.
//
//	go test -run '^$' -bench BenchmarkPost -benchtime 30000x ./su
func BenchmarkPost(b *testing.B) {
	opts := store.DefaultOptions(b.TempDir())
	opts.GCInterval = -1
	db, err := store.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	signer := testSigner(1)
	s, err := New(Options{DB: db, Signer: signer})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	post := func(raw []byte) error {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(raw)))
		if rec.Code != http.StatusOK {
			return fmt.Errorf("POST answered %d %s", rec.Code, rec.Body.String())
		}
		return nil
	}
	const clients = 64
	client := testSigner(7)
	pids := make([][]byte, clients)
	for i := range pids {
		p, err := dataitem.Sign(client, dataitem.Fields{Tags: []dataitem.Tag{
			{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Process"},
			{Name: "Module", Value: handAID0}, {Name: "Scheduler", Value: AddressOfOwner(signer.Owner())},
			{Name: "N", Value: strconv.Itoa(i)},
		}})
		if err != nil {
			b.Fatal(err)
		}
		if err := post(p.Raw()); err != nil {
			b.Fatal(err)
		}
		id := p.RawID()
		pids[i] = id[:]
	}
	msgs := make([][]byte, b.N)
	for i := range msgs {
		m, err := dataitem.Sign(client, dataitem.Fields{Target: pids[i%clients], Data: []byte("1 + 1"), Tags: []dataitem.Tag{
			{Name: "Data-Protocol", Value: "ao"}, {Name: "Type", Value: "Message"},
			{Name: "Action", Value: "Eval"}, {Name: "N", Value: strconv.Itoa(i)},
		}})
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = m.Raw()
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				if err := post(msgs[i]); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "assignments/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(0, "ns/op")
}
