package p2p

import (
	"context"
	"encoding/binary"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestFetchLengthIsAClaim: a peer that announces an item of the largest size and sends two
// bytes costs the fetcher about two bytes, not the announced size, while it waits.
func TestFetchLengthIsAClaim(t *testing.T) {
	cfg := testConfig()
	nodes := startNodes(t, cfg, []NodeInfo{{Roles: []string{RoleCU}}}, nil)
	claimer, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer claimer.Close()
	release := make(chan struct{})
	var sent sync.WaitGroup
	claimer.SetStreamHandler(FetchProtocol, func(s network.Stream) {
		defer s.Close()
		_, _ = io.ReadFull(s, make([]byte, idLen))
		hdr := make([]byte, 9, 11)
		hdr[0] = statusOK
		binary.BigEndian.PutUint64(hdr[1:], uint64(cfg.Fetch.MaxItemBytes))
		_, _ = s.Write(append(hdr, 'x', 'x'))
		sent.Done()
		<-release
	})
	ctx := context.Background()
	if err := nodes[0].Connect(ctx, peer.AddrInfo{ID: claimer.ID(), Addrs: claimer.Addrs()}); err != nil {
		t.Fatal(err)
	}
	before := heapInUse()
	const fetches = 4
	sent.Add(fetches)
	var done sync.WaitGroup
	for range fetches {
		done.Add(1)
		go func() {
			defer done.Done()
			_, _ = nodes[0].FetchFrom(ctx, claimer.ID(), sign(t, ed25519Signer(t), nil, []byte("x")).ID())
		}()
	}
	sent.Wait()
	time.Sleep(200 * time.Millisecond) // the fetchers are reading the rest
	grown := int64(heapInUse()) - int64(before)
	close(release)
	done.Wait()
	t.Logf("heap grew %d KiB for %d fetches announcing %d MiB each", grown>>10, fetches, cfg.Fetch.MaxItemBytes>>20)
	if grown > 16<<20 {
		t.Fatalf("the fetcher holds %d MiB for %d peers that sent 2 bytes each", grown>>20, fetches)
	}
}
