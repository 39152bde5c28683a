package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The crash test runs its own test binary as a child that commits batches as fast as it can
// and prints the sequence number of every acknowledged batch; the parent kills it with
// SIGKILL at a random moment, reopens the DB and checks that every acknowledged batch is
// there, intact, and that no batch is partially present. AONODE_SOAK=1 runs 200 rounds.
const (
	crashDirEnv   = "AONODE_STORE_CRASH_DIR"
	crashRoundEnv = "AONODE_STORE_CRASH_ROUND"
	crashWriters  = 8
	crashKeys     = 4 // plain keys per batch, besides the slot
	crashProcess  = "crash-process"
)

// crashKey is the key of part i of batch seq; seq's high 32 bits are the round.
func crashKey(seq uint64, i int) []byte {
	return append(binary.BigEndian.AppendUint64(nil, seq), byte(i))
}

// crashValue is deterministic, so the parent can check it byte for byte. Sizes straddle the
// value threshold so that both the LSM and the value log are exercised.
func crashValue(seq uint64, i int) []byte {
	sizes := [crashKeys]int{40, 3000, int(seq % 9000), 700}
	h := sha256.Sum256(crashKey(seq, i))
	return bytes.Repeat(h[:], sizes[i]/len(h)+1)[:sizes[i]]
}

func crashSlot(seq uint64) Slot {
	return Slot{
		Process:      crashProcess,
		Nonce:        seq,
		Timestamp:    int64(seq),
		BlockHeight:  seq / 7,
		HashChain:    fmt.Sprintf("chain-%d", seq),
		AssignmentID: fmt.Sprintf("assignment-%d", seq),
		MessageID:    fmt.Sprintf("message-%d", seq),
	}
}

// TestCrashChild is the child side; it does nothing unless the parent started it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrashRecovery")
	}
	round, err := strconv.ParseUint(os.Getenv(crashRoundEnv), 10, 32)
	if err != nil {
		t.Fatalf("bad %s: %v", crashRoundEnv, err)
	}
	o := DefaultOptions(dir)
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := Open(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var (
		out  sync.Mutex
		next atomic.Uint64
	)
	write := func(line string) {
		out.Lock()
		defer out.Unlock()
		// One write per line: a line cut by the kill lacks its newline and is ignored.
		if _, err := io.WriteString(os.Stdout, line); err != nil {
			os.Exit(5)
		}
	}
	write("open\n")
	for range crashWriters {
		go func() {
			for {
				seq := round<<32 | next.Add(1)
				b := db.NewBatch()
				for i := range crashKeys {
					b.Set(KsCUResults, crashKey(seq, i), crashValue(seq, i))
				}
				b.PutSlot(crashSlot(seq))
				if err := db.Commit(context.Background(), b); err != nil {
					fmt.Fprintln(os.Stderr, "commit:", err)
					os.Exit(4)
				}
				write("ack " + strconv.FormatUint(seq, 10) + "\n")
			}
		}()
	}
	// Never reached in a normal run: the parent kills this process. The timeout only keeps an
	// orphan from running forever if the parent died first.
	time.Sleep(time.Minute)
	os.Exit(6)
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	rounds := 20
	if os.Getenv("AONODE_SOAK") != "" {
		rounds = 200
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := make(map[uint32][]uint64)
	var totalAcked, roundsWithAcks int
	for round := uint32(1); round <= uint32(rounds); round++ {
		// A quarter of the kills land at a random moment after start (possibly while the
		// child is still opening and recovering); the rest while it commits.
		var killAfterOpen bool
		delay := time.Duration(rng.IntN(300)) * time.Millisecond
		if rng.IntN(4) != 0 {
			killAfterOpen = true
			delay = time.Duration(5+rng.IntN(250)) * time.Millisecond
		}
		acks, status := runCrashChild(t, dir, round, delay, killAfterOpen)
		if len(acks) > 0 {
			roundsWithAcks++
		}
		totalAcked += len(acks)
		acked[round] = acks
		checks := map[uint32][]uint64{round: acks}
		if round > 1 {
			checks[round-1] = acked[round-1] // the previous round survived a second crash too
		}
		verifyCrashDB(t, dir, checks, status)
	}
	verifyCrashDB(t, dir, acked, "final check")
	t.Logf("%d rounds, %d acknowledged batches, %d rounds with acknowledgements", rounds, totalAcked, roundsWithAcks)
	if roundsWithAcks < rounds/2 {
		t.Fatalf("only %d of %d rounds acknowledged anything; the test proves little", roundsWithAcks, rounds)
	}
}

// runCrashChild starts the child, kills it after delay (counted from its "open" line when
// afterOpen) and returns the sequence numbers it acknowledged.
func runCrashChild(t *testing.T, dir string, round uint32, delay time.Duration, afterOpen bool) ([]uint64, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.FormatUint(uint64(round), 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	var (
		raw    bytes.Buffer
		readWG sync.WaitGroup
	)
	readWG.Add(1)
	go func() {
		defer readWG.Done()
		r := bufio.NewReader(stdout)
		once := sync.Once{}
		for {
			line, err := r.ReadBytes('\n')
			raw.Write(line)
			if bytes.Equal(line, []byte("open\n")) {
				once.Do(func() { close(opened) })
			}
			if err != nil {
				once.Do(func() { close(opened) })
				return
			}
		}
	}()
	if afterOpen {
		select {
		case <-opened:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			readWG.Wait()
			_ = cmd.Wait()
			t.Fatalf("round %d: child did not open the DB: %s", round, stderr.String())
		}
	}
	timer := time.NewTimer(delay)
	<-timer.C
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("round %d: kill: %v", round, err)
	}
	readWG.Wait()
	werr := cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(werr, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child ended by itself (%v), stderr:\n%s\nstdout tail: %q", round, werr, stderr.String(), tail(raw.Bytes()))
	}
	var acks []uint64
	for _, line := range strings.SplitAfter(raw.String(), "\n") {
		if !strings.HasSuffix(line, "\n") || !strings.HasPrefix(line, "ack ") {
			continue // a line cut by the kill, or the test framework's output
		}
		seq, err := strconv.ParseUint(strings.TrimSpace(line[4:]), 10, 64)
		if err != nil {
			t.Fatalf("round %d: bad ack line %q", round, line)
		}
		acks = append(acks, seq)
	}
	return acks, fmt.Sprintf("round %d (kill %v after %s)", round, delay, map[bool]string{true: "open", false: "start"}[afterOpen])
}

func tail(b []byte) []byte {
	if len(b) > 200 {
		return b[len(b)-200:]
	}
	return b
}

// verifyCrashDB reopens the DB and checks the given rounds: every acknowledged batch complete
// and intact, and every batch that is present at all complete and intact.
func verifyCrashDB(t *testing.T, dir string, rounds map[uint32][]uint64, what string) {
	t.Helper()
	o := DefaultOptions(dir)
	o.Logger = quietLogger()
	db, err := Open(o)
	if err != nil {
		t.Fatalf("%s: reopen: %v", what, err)
	}
	defer db.Close()
	for round, acks := range rounds {
		present := make(map[uint64]int)
		prefix := binary.BigEndian.AppendUint32(nil, round)
		err := db.Scan(KsCUResults, prefix, nil, false, func(k, v []byte) bool {
			if len(k) != 9 || int(k[8]) >= crashKeys {
				t.Errorf("%s: unexpected key %x", what, k)
				return false
			}
			seq, i := binary.BigEndian.Uint64(k), int(k[8])
			if !bytes.Equal(v, crashValue(seq, i)) {
				t.Errorf("%s: batch %d part %d corrupt (%d bytes)", what, seq, i, len(v))
				return false
			}
			present[seq]++
			return true
		})
		if err != nil {
			t.Fatalf("%s: scan: %v", what, err)
		}
		if t.Failed() {
			t.FailNow()
		}
		for seq, n := range present {
			if n != crashKeys {
				t.Fatalf("%s: batch %d partially present: %d of %d keys", what, seq, n, crashKeys)
			}
			checkCrashSlot(t, db, seq, what)
		}
		for _, seq := range acks {
			if present[seq] != crashKeys {
				t.Fatalf("%s: acknowledged batch %d lost (%d of %d keys present)", what, seq, present[seq], crashKeys)
			}
		}
		// Slots without their batch's keys would be a torn batch too.
		err = db.Slots(crashProcess, uint64(round)<<32, func(s Slot) bool {
			if s.Nonce>>32 != uint64(round) {
				return false
			}
			if present[s.Nonce] != crashKeys {
				t.Errorf("%s: slot %d present without its batch", what, s.Nonce)
				return false
			}
			return true
		})
		if err != nil {
			t.Fatalf("%s: slots: %v", what, err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}

func checkCrashSlot(t *testing.T, db *DB, seq uint64, what string) {
	t.Helper()
	want := crashSlot(seq)
	if s, err := db.Slot(crashProcess, seq); err != nil || s != want {
		t.Fatalf("%s: slot %d = %+v, %v", what, seq, s, err)
	}
	if s, err := db.SlotByMessage(crashProcess, want.MessageID); err != nil || s != want {
		t.Fatalf("%s: slot %d by message = %+v, %v", what, seq, s, err)
	}
	if s, err := db.SlotByAssignment(want.AssignmentID); err != nil || s != want {
		t.Fatalf("%s: slot %d by assignment = %+v, %v", what, seq, s, err)
	}
}
