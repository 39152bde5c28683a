package httplimit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadAll(t *testing.T) {
	for _, size := range []int{0, 1, firstChunk - 1, firstChunk, firstChunk + 1, 3*maxChunk + 7} {
		in := bytes.Repeat([]byte{'x'}, size)
		for name, r := range map[string]io.Reader{
			"whole":    bytes.NewReader(in),
			"one byte": iotest.OneByteReader(bytes.NewReader(in)),
			"half":     iotest.HalfReader(bytes.NewReader(in)),
		} {
			if name == "one byte" && size > 2*firstChunk {
				continue
			}
			got, err := ReadAll(r, int64(size))
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("%d bytes, %s: %d bytes, %v", size, name, len(got), err)
			}
			if size > 0 && cap(got) > 2*len(got) {
				t.Fatalf("%d bytes, %s: capacity %d", size, name, cap(got))
			}
		}
		if size > 0 {
			_, err := ReadAll(bytes.NewReader(in), int64(size-1))
			var tl *TooLargeError
			if !errors.As(err, &tl) || tl.Limit != int64(size-1) || Status(err) != 413 {
				t.Fatalf("%d bytes over a limit of %d: %v", size, size-1, err)
			}
		}
	}
	boom := errors.New("boom")
	if _, err := ReadAll(iotest.ErrReader(boom), 10); !errors.Is(err, boom) || Status(err) != 400 {
		t.Fatalf("read error: %v", err)
	}
}

// trickle hands out its bytes in small reads and records the largest buffer ReadAll offered,
// which is how far ahead of the data ReadAll allocated.
type trickle struct {
	left    int
	maxAsk  int
	perRead int
}

func (t *trickle) Read(p []byte) (int, error) {
	t.maxAsk = max(t.maxAsk, len(p))
	if t.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), t.perRead, t.left)
	t.left -= n
	return n, nil
}

// TestReadAllHoldsWhatArrived: a claim is never an allocation; the buffer grows with the data.
func TestReadAllHoldsWhatArrived(t *testing.T) {
	tr := &trickle{left: 2, perRead: 1}
	if _, err := ReadAll(tr, 10<<20); err != nil {
		t.Fatal(err)
	}
	if tr.maxAsk > firstChunk {
		t.Fatalf("asked for %d bytes at once for a 2-byte body", tr.maxAsk)
	}
	tr = &trickle{left: 5 << 20, perRead: 4096}
	if _, err := ReadAll(tr, 10<<20); err != nil {
		t.Fatal(err)
	}
	if tr.maxAsk > maxChunk {
		t.Fatalf("asked for %d bytes at once", tr.maxAsk)
	}
}

func TestReadBodyRefusesClaimOverLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := ReadBody(w, r, 100)
		w.WriteHeader(Status(err) + 200*btoi(err == nil))
	}))
	defer srv.Close()
	for size, want := range map[int]int{10: 200, 100: 200, 101: 413} {
		resp, err := http.Post(srv.URL, "text/plain", bytes.NewReader(make([]byte, size)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%d bytes: %d, want %d", size, resp.StatusCode, want)
		}
	}
	// Chunked (no length announced) and over the limit.
	resp, err := http.Post(srv.URL, "text/plain", io.MultiReader(strings.NewReader(strings.Repeat("y", 200))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked over the limit: %d", resp.StatusCode)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rawPost starts a POST claiming size bytes and sends the first part; it returns the conn.
func rawPost(t *testing.T, addr string, size int, first string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", size, first)
	return c
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func statusOf(t *testing.T, c net.Conn, within time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufioReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", within, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestGuardUploadsPerAddr(t *testing.T) {
	srv := httptest.NewServer(Guard(GuardConfig{UploadsPerAddr: 2, UploadWait: 50 * time.Millisecond},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := ReadBody(w, r, 1<<20)
			if err != nil {
				SetRetryAfter(w, time.Second)
				http.Error(w, err.Error(), Status(err))
				return
			}
			w.WriteHeader(200)
		})))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	slow := []net.Conn{rawPost(t, addr, 100, "ab"), rawPost(t, addr, 100, "ab")}
	time.Sleep(100 * time.Millisecond) // both handlers are now reading
	third := rawPost(t, addr, 4, "abcd")
	if got := statusOf(t, third, 5*time.Second); got != http.StatusTooManyRequests {
		t.Fatalf("third upload from one address: %d, want 429", got)
	}
	// A finished upload frees its slot.
	fmt.Fprint(slow[0], strings.Repeat("z", 98))
	if got := statusOf(t, slow[0], 5*time.Second); got != 200 {
		t.Fatalf("first upload: %d", got)
	}
	fourth := rawPost(t, addr, 4, "abcd")
	if got := statusOf(t, fourth, 5*time.Second); got != 200 {
		t.Fatalf("upload after a slot freed: %d", got)
	}
	slow[1].Close()
}

func TestGuardCutsOffTrickle(t *testing.T) {
	srv := httptest.NewServer(Guard(GuardConfig{BodyMinRate: 20000, BodyGrace: 200 * time.Millisecond},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := ReadBody(w, r, 1<<20)
			if err != nil {
				http.Error(w, err.Error(), Status(err))
				return
			}
			w.WriteHeader(200)
		})))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	// 100000 bytes at the minimum rate may take 5.2 s; sending 2 bytes and stopping is cut
	// off after about 0.2 s + 16 KiB / 20000 B/s (the budget of the first read).
	start := time.Now()
	c := rawPost(t, addr, 100000, "ab")
	got := statusOf(t, c, 60*time.Second)
	if got != http.StatusRequestTimeout {
		t.Fatalf("trickle: %d after %v, want 408", got, time.Since(start))
	}
	// A body that keeps pace is read whole.
	c = rawPost(t, addr, 60000, "")
	for i := range 3 {
		if i > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		fmt.Fprint(c, strings.Repeat("q", 20000))
	}
	if got := statusOf(t, c, 10*time.Second); got != 200 {
		t.Fatalf("body at the minimum rate: %d", got)
	}
}

func TestRateByAddr(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewRateByAddr(2, 3, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("fourth: %v, wait %v", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another address shares a's bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("a token did not come back after 1/rate")
	}
	if ok, _ := NewRateByAddr(0, 0, nil).Allow("x"); !ok {
		t.Fatal("rate 0 must allow everything")
	}
}
