package emscripten

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aonode/aonode/cu/memory64"
	"github.com/aonode/aonode/cu/module"
)

func aos64(t testing.TB) *Module {
	t.Helper()
	mod, err := newEngine(t).Compile(context.Background(), fixture(t, "wasm64-emscripten.wasm"), Options{Format: module.Wasm64})
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

// TestWasm64MatchesFormat4 runs the edge-case session made with the reference on the 32-bit
// aos 2.0 (testdata/differential/e4.json: strftime, os.time, files, os.*, unicode, an
// error) on the 64-bit aos 2.0: the wasm64 glue's time, file and stdio functions must give
// the same results. The values are compared, not the bytes: Lua's tables iterate in another
// order in the 64-bit build, and io.write prints one of its pointers.
func TestWasm64MatchesFormat4(t *testing.T) {
	v := loadVector(t, filepath.Join("testdata", "differential", "e4.json"))
	ctx := context.Background()
	proc := aos64(t).NewProcess(nil)
	defer proc.Close(ctx)
	env := stringify(t, v.Env)
	pointer := regexp.MustCompile(`file \(0x[0-9a-f]+\)`)
	for i, msg := range v.Messages {
		res, err := proc.Eval(ctx, stringify(t, msg), env)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		exp := v.Expected[i]
		if out, ok := exp["Output"]; ok {
			exp["Output"] = json.RawMessage(pointer.ReplaceAll(out, []byte("file (0x52348)")))
		}
		t.Run(string(rune('a'+i)), func(t *testing.T) {
			if res.Threw != (string(exp["Threw"]) == "true") {
				t.Errorf("Threw = %v, want %s", res.Threw, exp["Threw"])
			}
			for key, got := range map[string]json.RawMessage{"Output": res.Output, "Messages": res.Messages, "Spawns": res.Spawns, "Assignments": res.Assignments, "Error": res.Error} {
				if want := exp[key]; !sameValue(got, want) {
					t.Errorf("%s = %s, want %s", key, got, want)
				}
			}
		})
	}
}

func sameValue(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// wideInstance is a cold aos64 instance and a scratch buffer in its memory.
func wideInstance(t *testing.T) (*Instance, uint32) {
	t.Helper()
	ctx := context.Background()
	in, err := aos64(t).Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(ctx) })
	in.bind(ctx)
	buf := uint32(in.mustCall(in.malloc, 4096))
	in.writeBytes(buf, bytes.Repeat([]byte{0xee}, 4096))
	return in, buf
}

func (in *Instance) cstr(p uint32, s string) uint32 {
	in.writeBytes(p, append([]byte(s), 0))
	return p
}

func TestWasm64FileLayouts(t *testing.T) {
	in, buf := wideInstance(t)
	path := in.cstr(buf, "/data/f.txt")
	cwd := int32(atFDCWD)
	st := []uint64{uint64(uint32(cwd)), uint64(path), oCREAT | oRDWR, 0}
	in.sysOpenat(st)
	fd := st[0]
	if int32(fd) < 3 {
		t.Fatalf("openat = %d", int32(fd))
	}
	// Two struct iovec {void *base; size_t len} of 16 bytes, and a size_t count.
	data := in.cstr(buf+64, "hello wasm64")
	iov := buf + 128
	binary.LittleEndian.PutUint64(in.readBytes(iov, 8), uint64(data))
	binary.LittleEndian.PutUint64(in.readBytes(iov+8, 8), 5)
	binary.LittleEndian.PutUint64(in.readBytes(iov+16, 8), uint64(data+5))
	binary.LittleEndian.PutUint64(in.readBytes(iov+24, 8), 7)
	pnum := buf + 256
	st = []uint64{fd, uint64(iov), 2, uint64(pnum)}
	in.fdWrite(st)
	if st[0] != 0 || in.readU64(pnum) != 12 {
		t.Fatalf("fd_write = %d, wrote %d", st[0], in.readU64(pnum))
	}
	// fd_seek(fd, i64 offset, whence, i64* newOffset) back to 6.
	st = []uint64{fd, 6, 0, uint64(buf + 264)}
	in.fdSeek64(st)
	if st[0] != 0 || in.readU64(buf+264) != 6 {
		t.Fatalf("fd_seek = %d, offset %d", st[0], in.readU64(buf+264))
	}
	st = []uint64{fd, 0xf000000000000000, 0, uint64(buf + 264)}
	if in.fdSeek64(st); st[0] != eOVERFLOW {
		t.Errorf("fd_seek beyond 2^53 = %d, want EOVERFLOW", st[0])
	}
	dst := buf + 512
	binary.LittleEndian.PutUint64(in.readBytes(iov, 8), uint64(dst))
	binary.LittleEndian.PutUint64(in.readBytes(iov+8, 8), 100)
	st = []uint64{fd, uint64(iov), 1, uint64(pnum)}
	in.fdRead(st)
	if st[0] != 0 || in.readU64(pnum) != 6 || string(in.readBytes(dst, 6)) != "wasm64" {
		t.Fatalf("fd_read = %d, %d bytes %q", st[0], in.readU64(pnum), in.readBytes(dst, 6))
	}

	// struct stat of wasm64-emscripten.cjs: 64-bit nlink, size, times and ino; bytes 28-31
	// keep what was there.
	sb := buf + 1024
	st = []uint64{uint64(path), uint64(sb)}
	in.sysStat64(st)
	if st[0] != 0 {
		t.Fatalf("stat = %d", int32(st[0]))
	}
	le32 := func(off uint32) uint32 { return in.readU32(sb + off) }
	le64 := func(off uint32) uint64 { return in.readU64(sb + off) }
	if le32(0) != 1 || le32(4) != sIFREG || le64(8) != 1 || le64(32) != 12 ||
		le32(40) != 4096 || le32(44) != 1 || le32(28) != 0xeeeeeeee || le64(96) == 0 {
		t.Errorf("stat layout: % x", in.readBytes(sb, 104))
	}
	if sec, ns := le64(48), le64(56); sec != 10 || ns == 0 || ns%1000 != 0 {
		t.Errorf("atime %d s %d ns, want 10 s and the ms remainder (the clock starts at 10000)", sec, ns)
	}

	// fd_fdstat_get sets the type, flags and rights only; a directory reads as a file there.
	st = []uint64{fd, uint64(buf + 1200)}
	in.fdFdstatGet(st)
	if st[0] != 0 || !bytes.Equal(in.readBytes(buf+1200, 24), []byte{4, 0xee, 0, 0, 0xee, 0xee, 0xee, 0xee, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("fdstat = %d: % x", st[0], in.readBytes(buf+1200, 24))
	}

	// fcntl F_GETLK reads an 8-byte pointer from the varargs.
	varargs := buf + 1300
	binary.LittleEndian.PutUint64(in.readBytes(varargs, 8), uint64(buf+1400))
	st = []uint64{fd, 5, uint64(varargs)}
	in.sysFcntl64(st)
	if st[0] != 0 || !bytes.Equal(in.readBytes(buf+1400, 3), []byte{2, 0, 0xee}) {
		t.Errorf("F_GETLK = %d: % x", st[0], in.readBytes(buf+1400, 3))
	}
	st = []uint64{fd, 99, 0}
	if in.sysFcntl64(st); int32(st[0]) != -eINVAL {
		t.Errorf("fcntl 99 = %d, want -EINVAL", int32(st[0]))
	}
	st = []uint64{fd, 0x7fffffffffffffff}
	if in.sysFtruncate64w(st); st[0] != eOVERFLOW {
		t.Errorf("ftruncate beyond 2^53 = %d, want 61", st[0])
	}
}

func TestWasm64Ioctl(t *testing.T) {
	in, buf := wideInstance(t)
	varargs, argp := buf, buf+64
	binary.LittleEndian.PutUint64(in.readBytes(varargs, 8), uint64(argp))
	ioctl := func(fd, op uint32) int32 {
		st := []uint64{uint64(fd), uint64(op), uint64(varargs)}
		in.sysIoctl64(st)
		return int32(st[0])
	}
	// stdout's tty answers TCGETS with its termios, stderr's has no tcgets: nothing written.
	if r := ioctl(2, 21505); r != 0 || in.readU32(argp) != 0xeeeeeeee {
		t.Errorf("TCGETS on stderr = %d, wrote % x", r, in.readBytes(argp, 4))
	}
	if r := ioctl(1, 21505); r != 0 || in.readU32(argp) != 25856 || in.readU32(argp+12) != 35387 ||
		in.readBytes(argp+16, 1)[0] != 0xee || in.readBytes(argp+17, 1)[0] != 3 {
		t.Errorf("TCGETS on stdout = %d: % x", r, in.readBytes(argp, 52))
	}
	if r := ioctl(0, 21523); r != 0 || !bytes.Equal(in.readBytes(argp, 4), []byte{24, 0, 80, 0}) {
		t.Errorf("TIOCGWINSZ = %d: % x", r, in.readBytes(argp, 4))
	}
	if r := ioctl(1, 21531); r != -eNOTTY {
		t.Errorf("FIONREAD = %d, want -ENOTTY", r)
	}
	if r := ioctl(1, 12345); r != -eINVAL {
		t.Errorf("unknown ioctl = %d, want -EINVAL", r)
	}
	if r := ioctl(99, 21505); r != -eBADF {
		t.Errorf("bad fd = %d, want -EBADF", r)
	}
}

func TestWasm64TimeLayouts(t *testing.T) {
	in, buf := wideInstance(t)
	tm := buf
	// localtime: struct tm with long tm_gmtoff at 40 (8 bytes) and tm_isdst at 32.
	in.localtime64([]uint64{86400 * 365, uint64(tm)})
	if in.readU32(tm+20) != 71 || in.readU32(tm+24) != 5 || in.readU32(tm+32) != 0 || in.readU64(tm+40) != 0 || in.readU32(tm+36) != 0xeeeeeeee {
		t.Errorf("localtime: % x", in.readBytes(tm, 56))
	}
	// gmtime leaves isdst, gmtoff and zone alone.
	in.writeBytes(tm, bytes.Repeat([]byte{0xee}, 56))
	in.gmtime64([]uint64{0, uint64(tm)})
	if in.readU32(tm+20) != 70 || in.readU32(tm+32) != 0xeeeeeeee || in.readU64(tm+40) != 0xeeeeeeeeeeeeeeee {
		t.Errorf("gmtime: % x", in.readBytes(tm, 56))
	}
	// strftime reads tm_gmtoff (i64 at 40) and tm_zone (pointer at 48), returns an i64.
	gmtoff := int64(-5 * 3600)
	in.writeU64(tm+40, uint64(gmtoff))
	in.writeU64(tm+48, uint64(in.cstr(buf+200, "EST")))
	format := in.cstr(buf+300, "%Y %z %Z")
	out := buf + 400
	st := []uint64{uint64(out), 64, uint64(format), uint64(tm)}
	in.strftime(st)
	if got := string(in.cString(out)); st[0] != uint64(len(got)) || got != "1970 -0500 EST" {
		t.Errorf("strftime = %d %q", st[0], got)
	}
	st = []uint64{uint64(out), 3, uint64(format), uint64(tm)}
	if in.strftime(st); st[0] != 0 {
		t.Errorf("strftime into 3 bytes = %d, want 0", st[0])
	}
	// mktime returns time_t as an i64, -1 for a date out of range.
	in.writeBytes(tm, make([]byte, 48))
	in.writeU32(tm+20, 71)
	in.writeU32(tm+12, 1)
	st = []uint64{uint64(tm)}
	if in.mktime64(st); st[0] != 86400*365 {
		t.Errorf("mktime = %d", int64(st[0]))
	}
	in.writeU32(tm+20, 0x7fffffff)
	st = []uint64{uint64(tm)}
	if in.mktime64(st); int64(st[0]) != -1 {
		t.Errorf("mktime of year 2^31 = %d, want -1", int64(st[0]))
	}
	// _tzset_js writes the 8-byte long timezone.
	in.tzset4([]uint64{uint64(buf + 600), uint64(buf + 616), uint64(buf + 620), uint64(buf + 640)})
	if in.readU64(buf+600) != 0 || in.readU32(buf+616) != 0 || string(in.cString(buf+620)) != "UTC" {
		t.Errorf("tzset: % x", in.readBytes(buf+600, 48))
	}
	// environ_sizes_get writes two size_t; the glue exposes no variables.
	in.environSizesGet([]uint64{uint64(buf + 700), uint64(buf + 708)})
	if in.readU64(buf+700) != 0 || in.readU64(buf+708) != 0 {
		t.Errorf("environ sizes: % x", in.readBytes(buf+700, 16))
	}
}

// TestWasm64WidePointers checks that a pointer beyond 32 bits is never truncated onto a low
// address: the host access fails as out of bounds instead.
func TestWasm64WidePointers(t *testing.T) {
	in, buf := wideInstance(t)
	if p := in.ptr(1<<32 + uint64(buf)); p != 0xffffffff {
		t.Fatalf("ptr(2^32 + %d) = %#x", buf, p)
	}
	before := append([]byte(nil), in.readBytes(buf, 64)...)
	err := guard(func() error {
		in.tzset4([]uint64{1<<32 + uint64(buf), uint64(buf + 8), uint64(buf + 16), uint64(buf + 32)})
		return nil
	})
	var ab *abortError
	if !errors.As(err, &ab) || !bytes.Equal(before, in.readBytes(buf, 64)) {
		t.Errorf("tzset with a 2^32 + %d pointer: %v, memory changed: %v", buf, err, !bytes.Equal(before, in.readBytes(buf, 64)))
	}
}

func TestWasm64Refusals(t *testing.T) {
	eng := newEngine(t)
	ctx := context.Background()
	// A 64-bit memory with no maximum, and one of 16 GiB: they could outgrow a 32-bit memory.
	for _, mem := range [][]byte{{1, 0x04, 1}, {1, 0x05, 1, 0x80, 0x80, 0x10}} {
		wasm := append([]byte("\x00asm\x01\x00\x00\x00\x05"), byte(len(mem)))
		wasm = append(wasm, mem...)
		_, err := eng.Compile(ctx, wasm, Options{Format: module.Wasm64})
		if !errors.Is(err, ErrIncompatibleModule) || !errors.Is(err, memory64.ErrUnsupported) {
			t.Errorf("memory % x: %v", mem, err)
		}
	}
	// The 32-bit aos is not a wasm64 module, and the 64-bit one is not a 32-bit one.
	if _, err := eng.Compile(ctx, fixture(t, "emscripten4.wasm"), Options{Format: module.Wasm64}); !errors.Is(err, memory64.ErrNotMemory64) {
		t.Errorf("32-bit aos as wasm64: %v", err)
	}
	if _, err := eng.Compile(ctx, fixture(t, "wasm64-emscripten.wasm"), Options{Format: module.Emscripten4}); err == nil {
		t.Error("64-bit aos compiled as format 4")
	} else {
		t.Logf("64-bit aos as format 4: %v", err)
	}
	if _, err := eng.Compile(ctx, fixture(t, "wasm64-emscripten.wasm"), Options{Format: module.Wasm64Metering}); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("metering format: %v", err)
	}
}

// TestWasm64HeapLimit checks the growth rule on the lowered memory: the glue's heap maximum
// is 16 GiB, so the module's own maximum (512 MiB for aos64) or Options.MemoryLimit stops it.
func TestWasm64HeapLimit(t *testing.T) {
	ctx := context.Background()
	in, _ := wideInstance(t)
	size := uint64(in.mem.Size())
	st := []uint64{512<<20 + 1}
	if in.resizeHeap(st); st[0] != 0 || uint64(in.mem.Size()) != size {
		t.Errorf("growing past the module's maximum: %d, size %d", st[0], in.mem.Size())
	}
	st = []uint64{size + 1}
	if in.resizeHeap(st); st[0] != 1 || uint64(in.mem.Size()) <= size {
		t.Errorf("growing by one byte: %d, size %d", st[0], in.mem.Size())
	}
	err := guard(func() error { in.resizeHeap([]uint64{16}); return nil })
	if err == nil || !strings.Contains(err.Error(), "Assertion failed") {
		t.Errorf("shrinking request: %v, want the glue's assertion", err)
	}
	// Refused when compiled, before instantiating would allocate the initial memory.
	_, err = newEngine(t).Compile(ctx, fixture(t, "wasm64-emscripten.wasm"), Options{Format: module.Wasm64, MemoryLimit: 64 << 20})
	if !errors.Is(err, ErrIncompatibleModule) || !strings.Contains(err.Error(), "exceeds the memory limit") {
		t.Errorf("68 MiB module under a 64 MiB limit: %v", err)
	}
}
