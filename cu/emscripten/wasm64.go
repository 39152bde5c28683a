package emscripten

import (
	"math"

	"github.com/aonode/aonode/cu/module"
)

// heapMax64 is getHeapMax() in wasm64-emscripten.cjs. The lowered memory stops at the
// module's own maximum, which memory64.Lower keeps at 4 GiB or less.
const heapMax64 = 17179869184

// wasm64Spec is the glue of wasm64-emscripten.cjs: the emscripten4.cjs runtime (Asyncify,
// the Date.now counter, MEMFS with /data, no main) built for a 64-bit memory. Pointers and
// size_t are i64 in the imports and 8 bytes in the structures the glue reads and writes
// (iovecs, environ, struct stat, struct tm's tm_gmtoff and tm_zone, the Asyncify data), and
// invoke_vjj calls through dynCall_vjj. One map serves env and wasi_snapshot_preview1, as in
// the glue. Like emscripten4.cjs it exposes no environment (the reference memory shows it).
func wasm64Spec() *formatSpec {
	env := map[string]hostFunc{
		"__assert_fail":                    {p(i64, i64, i32, i64), nil, (*Instance).assertFail},
		"__cxa_throw":                      {p(i64, i64, i64), nil, (*Instance).cxaThrow},
		"__asyncjs__weavedrive_open":       {p(i64, i64), r(i32), (*Instance).weavedriveOpen},
		"__asyncjs__weavedrive_read":       {p(i32, i64, i64), r(i32), (*Instance).weavedriveUnavailable},
		"__asyncjs__weavedrive_close":      {p(i32), r(i32), (*Instance).weavedriveUnavailable},
		"metering_gasUsed":                 {nil, r(i32), (*Instance).meteringGasUsed},
		"__syscall_chmod":                  {p(i64, i32), r(i32), (*Instance).sysChmod},
		"__syscall_dup3":                   {p(i32, i32, i32), r(i32), (*Instance).sysDup3},
		"__syscall_faccessat":              {p(i32, i64, i32, i32), r(i32), (*Instance).sysFaccessat},
		"__syscall_fchmod":                 {p(i32, i32), r(i32), (*Instance).sysFchmod},
		"__syscall_fchown32":               {p(i32, i32, i32), r(i32), (*Instance).sysFchown32},
		"__syscall_fcntl64":                {p(i32, i32, i64), r(i32), (*Instance).sysFcntl64},
		"__syscall_fstat64":                {p(i32, i64), r(i32), (*Instance).sysFstat64},
		"__syscall_ftruncate64":            {p(i32, i64), r(i32), (*Instance).sysFtruncate64w},
		"__syscall_getcwd":                 {p(i64, i64), r(i32), (*Instance).sysGetcwd},
		"__syscall_ioctl":                  {p(i32, i32, i64), r(i32), (*Instance).sysIoctl64},
		"__syscall_lstat64":                {p(i64, i64), r(i32), (*Instance).sysLstat64},
		"__syscall_mkdirat":                {p(i32, i64, i32), r(i32), (*Instance).sysMkdirat},
		"__syscall_newfstatat":             {p(i32, i64, i64, i32), r(i32), (*Instance).sysNewfstatat},
		"__syscall_openat":                 {p(i32, i64, i32, i64), r(i32), (*Instance).sysOpenat},
		"__syscall_readlinkat":             {p(i32, i64, i64, i64), r(i32), (*Instance).sysReadlinkat},
		"__syscall_renameat":               {p(i32, i64, i32, i64), r(i32), (*Instance).sysRenameat},
		"__syscall_rmdir":                  {p(i64), r(i32), (*Instance).sysRmdir},
		"__syscall_stat64":                 {p(i64, i64), r(i32), (*Instance).sysStat64},
		"__syscall_unlinkat":               {p(i32, i64, i32), r(i32), (*Instance).sysUnlinkat},
		"__syscall_utimensat":              {p(i32, i64, i64, i32), r(i32), (*Instance).sysUtimensat64},
		"_abort_js":                        {nil, nil, (*Instance).abort},
		"_emscripten_get_now_is_monotonic": {nil, r(i32), ret1},
		"_emscripten_memcpy_js":            {p(i64, i64, i64), nil, (*Instance).memcpy64},
		"_emscripten_system":               {p(i64), r(i32), (*Instance).systemNeg},
		"_emscripten_throw_longjmp":        {nil, nil, (*Instance).throwLongjmp},
		"_gmtime_js":                       {p(i64, i64), nil, (*Instance).gmtime64},
		"_localtime_js":                    {p(i64, i64), nil, (*Instance).localtime64},
		"_mktime_js":                       {p(i64), r(i64), (*Instance).mktime64},
		"_munmap_js":                       {p(i64, i64, i32, i32, i32, i64), r(i32), (*Instance).munmap64},
		"_tzset_js":                        {p(i64, i64, i64, i64), nil, (*Instance).tzset4},
		"emscripten_date_now":              {nil, r(f64), (*Instance).dateNow},
		"emscripten_err":                   {p(i64), nil, func(*Instance, []uint64) {}}, // stderr is muted
		"emscripten_get_heap_max":          {nil, r(i64), (*Instance).getHeapMax},
		"emscripten_get_now":               {nil, r(f64), (*Instance).dateNow},
		"emscripten_resize_heap":           {p(i64), r(i32), (*Instance).resizeHeap},
		"environ_get":                      {p(i64, i64), r(i32), (*Instance).environGet},
		"environ_sizes_get":                {p(i64, i64), r(i32), (*Instance).environSizesGet},
		"exit":                             {p(i32), nil, (*Instance).exit},
		"fd_close":                         {p(i32), r(i32), (*Instance).fdClose},
		"fd_fdstat_get":                    {p(i32, i64), r(i32), (*Instance).fdFdstatGet},
		"fd_read":                          {p(i32, i64, i64, i64), r(i32), (*Instance).fdRead},
		"fd_seek":                          {p(i32, i64, i32, i64), r(i32), (*Instance).fdSeek64},
		"fd_sync":                          {p(i32), r(i32), (*Instance).fdSync},
		"fd_write":                         {p(i32, i64, i64, i64), r(i32), (*Instance).fdWrite},
		"invoke_vjj":                       {p(i64, i64, i64), nil, (*Instance).invokeVII},
		"strftime":                         {p(i64, i64, i64, i64), r(i64), (*Instance).strftime},
		"strftime_l":                       {p(i64, i64, i64, i64, i64), r(i64), (*Instance).strftime},
	}
	names := exportNames{handle: "handle", main: "-", malloc: "malloc", free: "free", setThrew: "setThrew",
		stackSave: "emscripten_stack_get_current", stackRestore: "_emscripten_stack_restore", stackAlloc: "_emscripten_stack_alloc",
		stackInit: "emscripten_stack_init", stackEnd: "emscripten_stack_get_end", fflush: "fflush",
		ctors: "__wasm_call_ctors", memalign: "emscripten_builtin_memalign"}
	return &formatSpec{format: module.Wasm64, family: 4, host: "wasm64", ptr64: true, heapMax: heapMax64,
		exports: names, dynCall: "dynCall_vjj",
		imports: map[string]map[string]hostFunc{"env": env, "wasi_snapshot_preview1": env,
			"metering": {"usegas": {p(i64), nil, (*Instance).useGas}}}}
}

// ptr is a pointer argument as a 32-bit address. On wasm64 one beyond 32 bits becomes
// 0xFFFFFFFF, outside any memory the lowering runs, so the access fails instead of wrapping
// onto a low address.
func (in *Instance) ptr(v uint64) uint32 {
	if in.spec.ptr64 && v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// ptrSize is sizeof(void*) and sizeof(size_t) in the module.
func (in *Instance) ptrSize() uint32 {
	if in.spec.ptr64 {
		return 8
	}
	return 4
}

// count is a size_t argument used as a loop count (iovcnt): on wasm64, i53-converted.
func (in *Instance) count(v uint64) uint64 {
	if in.spec.ptr64 {
		return uint64(max(int64(v), 0))
	}
	return uint64(uint32(v))
}

// size is a size_t argument compared with a length: on wasm64 the glue's i53 conversion of
// an i64, so a negative size compares as negative.
func (in *Instance) size(v uint64) int64 {
	if in.spec.ptr64 {
		return int64(v)
	}
	return int64(uint32(v))
}

// readPtr reads a pointer (or size_t) stored in memory.
func (in *Instance) readPtr(p uint32) uint32 {
	if in.spec.ptr64 {
		return in.ptr(in.readU64(p))
	}
	return in.readU32(p)
}

// writePtr stores a pointer (or size_t) in memory.
func (in *Instance) writePtr(p uint32, v uint64) {
	if in.spec.ptr64 {
		in.writeU64(p, v)
		return
	}
	in.writeU32(p, uint32(v))
}

func (in *Instance) readU64(p uint32) uint64 {
	v, ok := in.mem.ReadUint64Le(p)
	if !ok {
		panic(&abortError{msg: "RangeError: offset is out of bounds"})
	}
	return v
}

func (in *Instance) writeU64(p uint32, v uint64) {
	if !in.mem.WriteUint64Le(p, v) {
		panic(&abortError{msg: "RangeError: offset is out of bounds"})
	}
}

// i53 is the glue's bigintToI53Checked: NaN outside ±2^53.
func i53From64(v uint64) float64 {
	x := int64(v)
	if x < -(1<<53) || x > 1<<53 {
		return math.NaN()
	}
	return float64(x)
}

func (in *Instance) cxaThrow(_ []uint64) {
	panic(&abortError{msg: "Aborted(Assertion failed: Exception thrown, but exception catching is not enabled. Compile with -sNO_DISABLE_EXCEPTION_CATCHING or -sEXCEPTION_CATCHING_ALLOWED=[..] to catch.)"})
}

// memcpy64 is _emscripten_memcpy_js(dest, src, num) with i64 arguments.
func (in *Instance) memcpy64(s []uint64) {
	n := s[2]
	if n > math.MaxUint32 {
		n = math.MaxUint32
	}
	st := [3]uint64{uint64(in.ptr(s[0])), uint64(in.ptr(s[1])), n}
	in.memcpy(st[:])
}

func (in *Instance) gmtime64(s []uint64) {
	t, ok := jsDate(i53From64(s[0]))
	in.writeTm(in.ptr(s[1]), t, ok, false)
}

func (in *Instance) localtime64(s []uint64) {
	t, ok := jsDate(i53From64(s[0]))
	in.writeTm(in.ptr(s[1]), t, ok, true)
}

// mktime64 returns time_t as an i64 (-1 for an invalid date).
func (in *Instance) mktime64(s []uint64) {
	tm := in.ptr(s[0])
	t, ms, ok := in.mktimeDate(tm)
	in.writeTmBack(tm, t, ok, true)
	if !ok {
		s[0] = math.MaxUint64
		return
	}
	s[0] = uint64(int64(ms / 1000))
}

// fdSeek64 is fd_seek(fd, offset i64, whence, newOffset*).
func (in *Instance) fdSeek64(s []uint64) {
	off := i53From64(s[1])
	if math.IsNaN(off) {
		s[0] = eOVERFLOW
		return
	}
	in.seek(s, int32(uint32(s[0])), off, uint32(s[2]), in.ptr(s[3]))
}

// sysFtruncate64w is __syscall_ftruncate64(fd, length i64); the glue returns a positive 61
// for a length beyond ±2^53.
func (in *Instance) sysFtruncate64w(s []uint64) {
	length := i53From64(s[1])
	if math.IsNaN(length) {
		s[0] = eOVERFLOW
		return
	}
	s[0] = in.ftruncate(int32(uint32(s[0])), length)
}

// sysUtimensat64 sets the node's time to the later of the two given times, or to now.
func (in *Instance) sysUtimensat64(s []uint64) {
	abs, err := in.fs.resolve(int32(uint32(s[0])), in.str(in.ptr(s[1])), true)
	if err == nil {
		var n *fsNode
		if n, err = in.fs.lookup(abs); err == nil {
			times := in.ptr(s[2])
			if times == 0 {
				n.ts = in.now()
			} else {
				at := func(p uint32) float64 {
					sec := float64(in.readU32(p)) + float64(int32(in.readU32(p+4)))*4294967296
					return sec*1e3 + float64(int32(in.readU32(p+8)))/1e6
				}
				n.ts = math.Max(at(times), at(times+16))
			}
		}
	}
	s[0] = sysResult(err)
}

// sysIoctl64 is the newer glue's __syscall_ioctl: the tty of stdin and stdout answers
// TCGETS and TIOCGWINSZ with data, stderr's does not.
func (in *Instance) sysIoctl64(s []uint64) {
	fd, op, varargs := int32(uint32(s[0])), uint32(s[1]), in.ptr(s[2])
	st, err := in.fs.stream(fd)
	if err != nil {
		s[0] = neg(err)
		return
	}
	tty := st.node.dev == devTTY
	full := tty && !st.node.tty1
	if !tty && op != 21531 {
		switch op {
		case 21505, 21506, 21507, 21508, 21509, 21510, 21511, 21512, 21515, 21519, 21520, 21523, 21524:
			s[0] = neg(fsErr(eNOTTY))
		default:
			s[0] = neg(fsErr(eINVAL))
		}
		return
	}
	s[0] = 0
	switch op {
	case 21505: // TCGETS
		if full {
			argp := in.readPtr(varargs)
			for i, v := range []uint32{25856, 5, 191, 35387} {
				in.writeU32(argp+uint32(i)*4, v)
			}
			in.writeBytes(argp+17, termiosCC[:])
		}
	case 21506, 21507, 21508, 21509, 21510, 21511, 21512, 21515, 21524:
	case 21519: // TIOCGPGRP
		in.writeU32(in.readPtr(varargs), 0)
	case 21520: // TIOCSPGRP
		s[0] = neg(fsErr(eINVAL))
	case 21523: // TIOCGWINSZ
		if full {
			argp := in.readPtr(varargs)
			in.writeBytes(argp, []byte{24, 0, 80, 0})
		}
	case 21531: // FIONREAD: no stream has an ioctl operation
		s[0] = neg(fsErr(eNOTTY))
	default:
		s[0] = neg(fsErr(eINVAL))
	}
}

var termiosCC = [32]byte{3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22}

// writeStat64 is SYSCALLS.doStat of wasm64-emscripten.cjs: 64-bit fields, times split into
// seconds and the milliseconds' remainder in nanoseconds, and bytes 28-31 left as they were.
func (in *Instance) writeStat64(buf uint32, n *fsNode) {
	size := uint64(0)
	switch {
	case n.isDir():
		size = 4096
	case n.mode&sIFMT == sIFREG:
		size = uint64(len(n.data))
	}
	dev := uint32(1)
	if n.mode&sIFMT == sIFCHR {
		dev = n.ino
	}
	in.writeU32(buf, dev)
	in.writeU32(buf+4, n.mode)
	in.writeU64(buf+8, 1)
	in.writeU64(buf+16, 0) // uid, gid
	in.writeU32(buf+24, n.rdev())
	in.writeU64(buf+32, size)
	in.writeU32(buf+40, 4096)
	in.writeU32(buf+44, uint32((size+4095)/4096))
	sec, nsec := uint64(int64(math.Floor(n.ts/1e3))), uint64(math.Mod(n.ts, 1e3)*1e3)
	for off := uint32(48); off < 96; off += 16 {
		in.writeU64(buf+off, sec)
		in.writeU64(buf+off+8, nsec)
	}
	in.writeU64(buf+96, uint64(n.ino))
}

// munmap64 is _munmap_js: a shared writable mapping of a file is written back (msync).
func (in *Instance) munmap64(s []uint64) {
	addr, length, prot, flags, fd, offset := in.ptr(s[0]), in.ptr(s[1]), uint32(s[2]), uint32(s[3]), int32(uint32(s[4])), int64(s[5])
	st, err := in.fs.stream(fd)
	if err != nil {
		s[0] = neg(err)
		return
	}
	s[0] = 0
	if prot&2 == 0 {
		return
	}
	if st.node.mode&sIFMT != sIFREG {
		s[0] = neg(fsErr(eNODEV))
		return
	}
	if flags&2 != 0 || length == 0 {
		return
	}
	if offset < 0 {
		s[0] = neg(fsErr(eINVAL))
		return
	}
	data := append([]byte(nil), in.readBytes(addr, length)...)
	if _, err := in.fs.write(&fsStream{node: st.node, flags: oRDWR, pos: offset}, data); err != nil {
		s[0] = neg(err)
	}
}
