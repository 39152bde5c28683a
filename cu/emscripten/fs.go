package emscripten

import (
	"errors"
	"math"
	"path"
	"strconv"
	"strings"
)

// memFS is the in-memory file system the newer glue runs (Emscripten MEMFS). Nothing here
// touches the host: stdout/stderr are discarded (the loader mutes them), stdin is empty,
// /dev/random and /dev/urandom return zeros (the reference reads host entropy there; a CU
// must not), and files live only as long as the instance.
type memFS struct {
	in      *Instance
	root    *fsNode
	cwd     string
	streams map[int32]*fsStream
	nextIno uint32
}

type devKind int

const (
	devNone devKind = iota
	devNull
	devTTY
	devZero
)

type fsNode struct {
	name     string
	mode     uint32
	parent   *fsNode
	children map[string]*fsNode
	data     []byte
	dev      devKind
	tty1     bool // the stderr tty, whose device has no input or ioctl operations
	ino      uint32
	ts       float64
}

// rdev is the device number the glue registered the node's device under.
func (n *fsNode) rdev() uint32 {
	switch {
	case n.dev == devNull:
		return 1<<8 | 3
	case n.dev == devTTY && n.tty1:
		return 6 << 8
	case n.dev == devTTY:
		return 5 << 8
	case n.dev == devZero && n.name == "random":
		return 64 << 8
	case n.dev == devZero:
		return 65 << 8
	}
	return 0
}

type fsStream struct {
	node  *fsNode
	flags uint32
	pos   int64
}

// errno values of the emscripten ABI (musl numbering as emscripten remaps it).
const (
	eACCES     = 2
	eBADF      = 8
	eBUSY      = 10
	eEXIST     = 20
	eINVAL     = 28
	eISDIR     = 31
	eMFILE     = 33
	eNODEV     = 43
	eNOENT     = 44
	eNOSYS     = 52
	eNOTDIR    = 54
	eNOTEMPTY  = 55
	eNOTTY     = 59
	eOVERFLOW  = 61
	eRANGE     = 68
	eSPIPE     = 70
	eXDEV      = 75
	sIFMT      = 0o170000
	sIFDIR     = 0o040000
	sIFREG     = 0o100000
	sIFCHR     = 0o020000
	oWRONLY    = 1
	oRDWR      = 2
	oCREAT     = 64
	oEXCL      = 128
	oTRUNC     = 512
	oAPPEND    = 1024
	oDIRECTORY = 65536
	atFDCWD    = -100
	maxFDs     = 4096
	maxFile    = 1 << 30
)

type fsErr int

func (e fsErr) Error() string { return "errno " + strconv.Itoa(int(e)) }

func newMemFS(in *Instance) *memFS {
	fs := &memFS{in: in, cwd: "/", streams: map[int32]*fsStream{}}
	fs.root = fs.newNode(nil, "/", sIFDIR|0o777, devNone)
	for _, d := range []string{"/tmp", "/home/web_user", "/dev/shm/tmp", "/proc/self/fd"} {
		fs.mkdirAll(d)
	}
	dev := fs.root.children["dev"]
	fs.newNode(dev, "null", sIFCHR|0o666, devNull)
	for _, name := range []string{"tty", "tty1", "stdin", "stdout", "stderr"} {
		fs.newNode(dev, name, sIFCHR|0o666, devTTY).tty1 = name == "tty1" || name == "stderr"
	}
	fs.newNode(dev, "random", sIFCHR|0o666, devZero)
	fs.newNode(dev, "urandom", sIFCHR|0o666, devZero)
	fs.streams[0] = &fsStream{node: dev.children["stdin"], flags: 0}
	fs.streams[1] = &fsStream{node: dev.children["stdout"], flags: oWRONLY}
	fs.streams[2] = &fsStream{node: dev.children["stderr"], flags: oWRONLY}
	return fs
}

func (fs *memFS) newNode(parent *fsNode, name string, mode uint32, dev devKind) *fsNode {
	fs.nextIno++
	n := &fsNode{name: name, mode: mode, parent: parent, dev: dev, ino: fs.nextIno, ts: fs.in.clock}
	if mode&sIFMT == sIFDIR {
		n.children = map[string]*fsNode{}
	}
	if parent != nil {
		parent.children[name] = n
		parent.ts = fs.in.clock
	} else {
		n.parent = n
	}
	return n
}

func (fs *memFS) mkdirAll(p string) {
	cur := fs.root
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		next, ok := cur.children[part]
		if !ok {
			next = fs.newNode(cur, part, sIFDIR|0o777, devNone)
		}
		cur = next
	}
}

func (n *fsNode) isDir() bool { return n.mode&sIFMT == sIFDIR }

// resolve returns the absolute path for dirfd/path (SYSCALLS.calculateAt).
func (fs *memFS) resolve(dirfd int32, p string, allowEmpty bool) (string, error) {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p), nil
	}
	var dir string
	if dirfd == atFDCWD {
		dir = fs.cwd
	} else {
		st, ok := fs.streams[dirfd]
		if !ok {
			return "", fsErr(eBADF)
		}
		if !st.node.isDir() && p != "" {
			return "", fsErr(eNOTDIR)
		}
		dir = fs.pathOf(st.node)
	}
	if p == "" {
		if !allowEmpty {
			return "", fsErr(eNOENT)
		}
		return dir, nil
	}
	return path.Clean(dir + "/" + p), nil
}

func (fs *memFS) pathOf(n *fsNode) string {
	var parts []string
	for n != fs.root {
		parts = append([]string{n.name}, parts...)
		n = n.parent
	}
	return "/" + strings.Join(parts, "/")
}

// lookup walks an absolute, cleaned path.
func (fs *memFS) lookup(p string) (*fsNode, error) {
	cur := fs.root
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		if !cur.isDir() {
			return nil, fsErr(eNOTDIR)
		}
		next, ok := cur.children[part]
		if !ok {
			return nil, fsErr(eNOENT)
		}
		cur = next
	}
	return cur, nil
}

func (fs *memFS) parentOf(p string) (*fsNode, string, error) {
	dir, name := path.Split(p)
	parent, err := fs.lookup(dir)
	if err != nil {
		return nil, "", err
	}
	if !parent.isDir() {
		return nil, "", fsErr(eNOTDIR)
	}
	return parent, name, nil
}

func (fs *memFS) open(p string, flags, mode uint32) (int32, error) {
	node, err := fs.lookup(p)
	if flags&oCREAT != 0 {
		switch {
		case err == nil && flags&oEXCL != 0:
			return 0, fsErr(eEXIST)
		case errors.Is(err, fsErr(eNOENT)):
			parent, name, perr := fs.parentOf(p)
			if perr != nil {
				return 0, perr
			}
			if name == "" {
				return 0, fsErr(eISDIR)
			}
			node, err = fs.newNode(parent, name, sIFREG|(mode&0o7777), devNone), nil
		}
	}
	if err != nil {
		return 0, err
	}
	if node.mode&sIFMT == sIFCHR {
		flags &^= oTRUNC
	}
	if flags&oDIRECTORY != 0 && !node.isDir() {
		return 0, fsErr(eNOTDIR)
	}
	if node.isDir() && (flags&3 != 0 || flags&oTRUNC != 0) {
		return 0, fsErr(eISDIR)
	}
	if flags&oTRUNC != 0 && node.mode&sIFMT == sIFREG {
		node.data = node.data[:0]
		node.ts = fs.in.now()
	}
	return fs.newStream(&fsStream{node: node, flags: flags &^ (oCREAT | oEXCL | oTRUNC)}, 0)
}

func (fs *memFS) newStream(st *fsStream, from int32) (int32, error) {
	for fd := from; fd < maxFDs; fd++ {
		if _, used := fs.streams[fd]; !used {
			fs.streams[fd] = st
			return fd, nil
		}
	}
	return 0, fsErr(eMFILE)
}

func (fs *memFS) stream(fd int32) (*fsStream, error) {
	st, ok := fs.streams[fd]
	if !ok {
		return nil, fsErr(eBADF)
	}
	return st, nil
}

func (fs *memFS) read(st *fsStream, n uint32) ([]byte, error) {
	if st.flags&3 == oWRONLY {
		return nil, fsErr(eBADF)
	}
	switch st.node.dev {
	case devNull, devTTY:
		return nil, nil
	case devZero:
		return make([]byte, n), nil
	}
	if st.node.isDir() {
		return nil, fsErr(eISDIR)
	}
	d := st.node.data
	if st.pos >= int64(len(d)) {
		return nil, nil
	}
	end := min(int64(len(d)), st.pos+int64(n))
	out := d[st.pos:end]
	st.pos = end
	return out, nil
}

func (fs *memFS) write(st *fsStream, b []byte) (int, error) {
	if st.flags&3 == 0 {
		return 0, fsErr(eBADF)
	}
	switch st.node.dev {
	case devNull, devTTY, devZero:
		if len(b) > 0 && st.node.dev == devTTY {
			st.node.ts = fs.in.now()
		}
		return len(b), nil
	}
	if st.node.isDir() {
		return 0, fsErr(eISDIR)
	}
	if st.flags&oAPPEND != 0 {
		st.pos = int64(len(st.node.data))
	}
	end := st.pos + int64(len(b))
	if end > maxFile {
		return 0, fsErr(eOVERFLOW)
	}
	if end > int64(len(st.node.data)) {
		grown := make([]byte, end)
		copy(grown, st.node.data)
		st.node.data = grown
	}
	copy(st.node.data[st.pos:end], b)
	st.pos = end
	if len(b) > 0 {
		st.node.ts = fs.in.now()
	}
	return len(b), nil
}

func (fs *memFS) unlink(p string, dir bool) error {
	node, err := fs.lookup(p)
	if err != nil {
		return err
	}
	if node == fs.root {
		return fsErr(eBUSY)
	}
	switch {
	case dir && !node.isDir():
		return fsErr(eNOTDIR)
	case !dir && node.isDir():
		return fsErr(eISDIR)
	case dir && len(node.children) > 0:
		return fsErr(eNOTEMPTY)
	}
	delete(node.parent.children, node.name)
	node.parent.ts = fs.in.now()
	return nil
}

func (fs *memFS) rename(from, to string) error {
	node, err := fs.lookup(from)
	if err != nil {
		return err
	}
	parent, name, err := fs.parentOf(to)
	if err != nil {
		return err
	}
	if node == fs.root || name == "" {
		return fsErr(eBUSY)
	}
	if strings.HasPrefix(to+"/", from+"/") && to != from {
		return fsErr(eINVAL)
	}
	if old, ok := parent.children[name]; ok && old != node {
		if old.isDir() != node.isDir() {
			if old.isDir() {
				return fsErr(eISDIR)
			}
			return fsErr(eNOTDIR)
		}
		if old.isDir() && len(old.children) > 0 {
			return fsErr(eNOTEMPTY)
		}
	}
	delete(node.parent.children, node.name)
	node.name, node.parent = name, parent
	parent.children[name] = node
	parent.ts = fs.in.now()
	return nil
}

func errnoOf(err error) uint32 {
	var e fsErr
	if errors.As(err, &e) {
		return uint32(e)
	}
	return eINVAL
}

// neg returns -errno as the i32 bit pattern the __syscall_* imports return.
func neg(err error) uint64 { return uint64(uint32(-int32(errnoOf(err)))) }

func (in *Instance) str(p uint32) string { return decodeUTF8JS(in.cString(p)) }

// --- WASI fd_* (formats 1-4) ---

// iovec returns the i-th struct iovec of the array at iov: {void *base; size_t len}.
func (in *Instance) iovec(iov uint32, i uint64) (uint32, uint32) {
	at := iov + uint32(i)*2*in.ptrSize()
	return in.readPtr(at), in.readPtr(at + in.ptrSize())
}

func (in *Instance) fdWrite(s []uint64) {
	fd, iov, iovcnt, pnum := int32(uint32(s[0])), in.ptr(s[1]), in.count(s[2]), in.ptr(s[3])
	var st *fsStream
	if in.fs != nil {
		var err error
		if st, err = in.fs.stream(fd); err != nil {
			s[0] = uint64(errnoOf(err))
			return
		}
	}
	var num uint32
	for i := uint64(0); i < iovcnt; i++ {
		ptr, n := in.iovec(iov, i)
		if st == nil { // format 1 prints every byte to the (muted) console
			num += n
			continue
		}
		w, err := in.fs.write(st, in.readBytes(ptr, n))
		if err != nil {
			s[0] = uint64(errnoOf(err))
			return
		}
		num += uint32(w)
		if uint32(w) < n {
			break
		}
	}
	in.writePtr(pnum, uint64(num))
	s[0] = 0
}

func (in *Instance) fdRead(s []uint64) {
	fd, iov, iovcnt, pnum := int32(uint32(s[0])), in.ptr(s[1]), in.count(s[2]), in.ptr(s[3])
	st, err := in.fs.stream(fd)
	if err != nil {
		s[0] = uint64(errnoOf(err))
		return
	}
	var num uint32
	for i := uint64(0); i < iovcnt; i++ {
		ptr, n := in.iovec(iov, i)
		b, err := in.fs.read(st, n)
		if err != nil {
			s[0] = uint64(errnoOf(err))
			return
		}
		in.writeBytes(ptr, b)
		num += uint32(len(b))
		if uint32(len(b)) < n {
			break
		}
	}
	in.writePtr(pnum, uint64(num))
	s[0] = 0
}

func (in *Instance) fdClose(s []uint64) {
	fd := int32(uint32(s[0]))
	if _, err := in.fs.stream(fd); err != nil {
		s[0] = uint64(errnoOf(err))
		return
	}
	delete(in.fs.streams, fd)
	s[0] = 0
}

func (in *Instance) fdSeek(s []uint64) {
	fd, off, whence, out := int32(uint32(s[0])), i53(uint32(s[1]), uint32(s[2])), uint32(s[3]), uint32(s[4])
	if in.fs == nil {
		s[0] = eSPIPE
		return
	}
	if math.IsNaN(off) {
		s[0] = eOVERFLOW
		return
	}
	in.seek(s, fd, off, whence, out)
}

func (in *Instance) seek(s []uint64, fd int32, off float64, whence, out uint32) {
	st, err := in.fs.stream(fd)
	if err != nil {
		s[0] = uint64(errnoOf(err))
		return
	}
	if st.node.dev == devTTY {
		s[0] = eSPIPE
		return
	}
	pos := int64(off)
	switch whence {
	case 0:
	case 1:
		pos += st.pos
	case 2:
		if st.node.mode&sIFMT == sIFREG {
			pos += int64(len(st.node.data))
		}
	default:
		s[0] = eINVAL
		return
	}
	if pos < 0 {
		s[0] = eINVAL
		return
	}
	st.pos = pos
	in.writeU32(out, uint32(pos))
	in.writeU32(out+4, uint32(uint64(pos)>>32))
	s[0] = 0
}

func (in *Instance) fdSync(s []uint64) {
	if _, err := in.fs.stream(int32(uint32(s[0]))); err != nil {
		s[0] = uint64(errnoOf(err))
		return
	}
	s[0] = 0
}

func (in *Instance) fdFdstatGet(s []uint64) {
	st, err := in.fs.stream(int32(uint32(s[0])))
	if err != nil {
		s[0] = uint64(errnoOf(err))
		return
	}
	typ := byte(4)
	switch {
	case st.node.dev == devTTY:
		typ = 2
	case st.node.isDir() && !in.spec.ptr64: // wasm64-emscripten.cjs tests the stream's (absent) mode
		typ = 3
	}
	buf := in.ptr(s[1])
	if in.spec.ptr64 {
		// Only the fields the glue sets: type, flags and the two rights.
		in.writeBytes(buf, []byte{typ})
		in.writeBytes(buf+2, []byte{0, 0})
		in.writeU64(buf+8, 0)
		in.writeU64(buf+16, 0)
	} else {
		b := make([]byte, 24)
		b[0] = typ
		in.writeBytes(buf, b)
	}
	s[0] = 0
}

// --- __syscall_* (formats 2-4) ---

func (in *Instance) sysOpenat(s []uint64) {
	dirfd, p, flags, varargs := int32(uint32(s[0])), in.str(in.ptr(s[1])), uint32(s[2]), in.ptr(s[3])
	var mode uint32
	if varargs != 0 {
		mode = in.readU32(varargs)
	}
	abs, err := in.fs.resolve(dirfd, p, false)
	if err == nil {
		var fd int32
		if fd, err = in.fs.open(abs, flags, mode); err == nil {
			s[0] = uint64(uint32(fd))
			return
		}
	}
	s[0] = neg(err)
}

func (in *Instance) sysFcntl64(s []uint64) {
	fd, cmd, varargs := int32(uint32(s[0])), uint32(s[1]), in.ptr(s[2])
	st, err := in.fs.stream(fd)
	if err != nil {
		s[0] = neg(err)
		return
	}
	switch cmd {
	case 0: // F_DUPFD
		arg := int32(in.readU32(varargs))
		if arg < 0 {
			s[0] = neg(fsErr(eINVAL))
			return
		}
		cp := *st
		nfd, err := in.fs.newStream(&cp, arg)
		if err != nil {
			s[0] = neg(err)
			return
		}
		s[0] = uint64(uint32(nfd))
	case 1, 2, 6, 7:
		s[0] = 0
	case 3:
		s[0] = uint64(st.flags)
	case 4:
		st.flags |= in.readU32(varargs)
		s[0] = 0
	case 5: // F_GETLK: report F_UNLCK
		arg := in.readPtr(varargs)
		in.writeBytes(arg, []byte{2, 0})
		s[0] = 0
	default:
		if in.spec.ptr64 {
			s[0] = neg(fsErr(eINVAL))
			return
		}
		in.setErrno(eINVAL)
		s[0] = uint64(uint32(0xffffffff))
	}
}

func (in *Instance) sysIoctl(s []uint64) {
	fd, op, varargs := int32(uint32(s[0])), uint32(s[1]), in.ptr(s[2])
	st, err := in.fs.stream(fd)
	if err != nil {
		s[0] = neg(err)
		return
	}
	tty := st.node.dev == devTTY
	switch op {
	case 21505, 21506, 21507, 21508, 21509, 21510, 21511, 21523, 21524:
		if !tty {
			s[0] = neg(fsErr(eNOTTY))
			return
		}
		s[0] = 0
	case 21519: // TIOCGPGRP
		if !tty {
			s[0] = neg(fsErr(eNOTTY))
			return
		}
		in.writeU32(in.readU32(varargs), 0)
		s[0] = 0
	case 21520: // TIOCSPGRP
		if !tty {
			s[0] = neg(fsErr(eNOTTY))
			return
		}
		s[0] = neg(fsErr(eINVAL))
	default:
		s[0] = neg(fsErr(eINVAL))
	}
}

func (in *Instance) sysDup3(s []uint64) {
	fd, nfd := int32(uint32(s[0])), int32(uint32(s[1]))
	st, err := in.fs.stream(fd)
	if err != nil {
		s[0] = neg(err)
		return
	}
	if fd == nfd {
		s[0] = neg(fsErr(eINVAL))
		return
	}
	if nfd < 0 || nfd >= maxFDs {
		s[0] = neg(fsErr(eBADF))
		return
	}
	cp := *st
	in.fs.streams[nfd] = &cp
	s[0] = uint64(uint32(nfd))
}

func (in *Instance) sysUnlinkat(s []uint64) {
	dirfd, p, flags := int32(uint32(s[0])), in.str(in.ptr(s[1])), uint32(s[2])
	abs, err := in.fs.resolve(dirfd, p, false)
	if err == nil {
		switch flags {
		case 0:
			err = in.fs.unlink(abs, false)
		case 512:
			err = in.fs.unlink(abs, true)
		default:
			panic(&abortError{msg: "Aborted(Invalid flags passed to unlinkat)"})
		}
	}
	s[0] = sysResult(err)
}

func sysResult(err error) uint64 {
	if err != nil {
		return neg(err)
	}
	return 0
}

func (in *Instance) sysRmdir(s []uint64) {
	abs, err := in.fs.resolve(atFDCWD, in.str(in.ptr(s[0])), false)
	if err == nil {
		err = in.fs.unlink(abs, true)
	}
	s[0] = sysResult(err)
}

func (in *Instance) sysRenameat(s []uint64) {
	from, err := in.fs.resolve(int32(uint32(s[0])), in.str(in.ptr(s[1])), false)
	if err == nil {
		var to string
		if to, err = in.fs.resolve(int32(uint32(s[2])), in.str(in.ptr(s[3])), false); err == nil {
			err = in.fs.rename(from, to)
		}
	}
	s[0] = sysResult(err)
}

// writeStat is SYSCALLS.doStat of the emscripten2 glue (and of wasm64's, writeStat64).
func (in *Instance) writeStat(buf uint32, n *fsNode) {
	if in.spec.ptr64 {
		in.writeStat64(buf, n)
		return
	}
	b := make([]byte, 88)
	le := func(off int, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
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
	secs := uint32(int32(n.ts / 1000))
	le(0, dev)
	le(8, n.ino)
	le(12, n.mode)
	le(16, 1)
	le(40, uint32(size))
	le(44, uint32(size>>32))
	le(48, 4096)
	le(52, uint32((size+4095)/4096))
	le(56, secs)
	le(64, secs)
	le(72, secs)
	le(80, n.ino)
	in.writeBytes(buf, b)
}

func (in *Instance) statPath(dirfd int32, p string, buf uint32, allowEmpty bool) uint64 {
	abs, err := in.fs.resolve(dirfd, p, allowEmpty)
	if err != nil {
		return neg(err)
	}
	n, err := in.fs.lookup(abs)
	if err != nil {
		return neg(err)
	}
	in.writeStat(buf, n)
	return 0
}

func (in *Instance) sysLstat64(s []uint64) {
	s[0] = in.statPath(atFDCWD, in.str(in.ptr(s[0])), in.ptr(s[1]), false)
}

func (in *Instance) sysStat64(s []uint64) {
	s[0] = in.statPath(atFDCWD, in.str(in.ptr(s[0])), in.ptr(s[1]), false)
}

func (in *Instance) sysNewfstatat(s []uint64) {
	s[0] = in.statPath(int32(uint32(s[0])), in.str(in.ptr(s[1])), in.ptr(s[2]), uint32(s[3])&4096 != 0)
}

func (in *Instance) sysFstat64(s []uint64) {
	st, err := in.fs.stream(int32(uint32(s[0])))
	if err != nil {
		s[0] = neg(err)
		return
	}
	in.writeStat(in.ptr(s[1]), st.node)
	s[0] = 0
}

func (in *Instance) sysMkdirat(s []uint64) {
	abs, err := in.fs.resolve(int32(uint32(s[0])), in.str(in.ptr(s[1])), false)
	if err == nil {
		var parent *fsNode
		var name string
		if parent, name, err = in.fs.parentOf(abs); err == nil {
			if _, exists := parent.children[name]; exists || name == "" {
				err = fsErr(eEXIST)
			} else {
				in.fs.newNode(parent, name, sIFDIR|(uint32(s[2])&0o777), devNone)
			}
		}
	}
	s[0] = sysResult(err)
}

func (in *Instance) sysGetcwd(s []uint64) {
	buf, size := in.ptr(s[0]), in.size(s[1])
	if size == 0 {
		s[0] = neg(fsErr(eINVAL))
		return
	}
	cwd := append([]byte(in.fs.cwd), 0)
	if size < int64(len(cwd)) {
		s[0] = neg(fsErr(eRANGE))
		return
	}
	in.writeBytes(buf, cwd)
	s[0] = uint64(len(cwd))
}

func (in *Instance) sysReadlinkat(s []uint64) {
	abs, err := in.fs.resolve(int32(uint32(s[0])), in.str(in.ptr(s[1])), false)
	if err == nil && in.spec.ptr64 && in.size(s[3]) <= 0 {
		err = fsErr(eINVAL)
	}
	if err == nil {
		if _, err = in.fs.lookup(abs); err == nil {
			err = fsErr(eINVAL) // MEMFS here has no symlinks
		}
	}
	s[0] = neg(err)
}

func (in *Instance) sysFaccessat(s []uint64) {
	if uint32(s[2])&^7 != 0 {
		s[0] = neg(fsErr(eINVAL))
		return
	}
	abs, err := in.fs.resolve(int32(uint32(s[0])), in.str(in.ptr(s[1])), false)
	if err == nil {
		_, err = in.fs.lookup(abs)
	}
	s[0] = sysResult(err)
}

func (in *Instance) sysChmod(s []uint64) {
	abs, err := in.fs.resolve(atFDCWD, in.str(in.ptr(s[0])), false)
	if err == nil {
		var n *fsNode
		if n, err = in.fs.lookup(abs); err == nil {
			n.mode = n.mode&sIFMT | uint32(s[1])&0o7777
			n.ts = in.now()
		}
	}
	s[0] = sysResult(err)
}

func (in *Instance) sysFchmod(s []uint64) {
	st, err := in.fs.stream(int32(uint32(s[0])))
	if err == nil {
		st.node.mode = st.node.mode&sIFMT | uint32(s[1])&0o7777
		st.node.ts = in.now()
	}
	s[0] = sysResult(err)
}

func (in *Instance) sysFchown32(s []uint64) {
	_, err := in.fs.stream(int32(uint32(s[0])))
	s[0] = sysResult(err)
}

func (in *Instance) sysUtimensat(s []uint64) {
	abs, err := in.fs.resolve(int32(uint32(s[0])), in.str(in.ptr(s[1])), true)
	if err == nil {
		var n *fsNode
		if n, err = in.fs.lookup(abs); err == nil {
			n.ts = in.now()
		}
	}
	s[0] = sysResult(err)
}

func (in *Instance) sysFtruncate64(s []uint64) {
	length := i53(uint32(s[1]), uint32(s[2]))
	if math.IsNaN(length) {
		s[0] = neg(fsErr(eOVERFLOW))
		return
	}
	s[0] = in.ftruncate(int32(uint32(s[0])), length)
}

func (in *Instance) ftruncate(fd int32, length float64) uint64 {
	st, err := in.fs.stream(fd)
	if err != nil {
		return neg(err)
	}
	if length < 0 || length > maxFile || st.node.mode&sIFMT != sIFREG || st.flags&3 == 0 {
		return neg(fsErr(eINVAL))
	}
	n := int(length)
	if n <= len(st.node.data) {
		st.node.data = st.node.data[:n]
	} else {
		st.node.data = append(st.node.data, make([]byte, n-len(st.node.data))...)
	}
	st.node.ts = in.now()
	return 0
}

func (in *Instance) mmap(length, fd uint32, off float64, allocated uint32) uint64 {
	st, err := in.fs.stream(int32(fd))
	if err != nil {
		return neg(err)
	}
	if st.node.mode&sIFMT != sIFREG {
		return neg(fsErr(eNODEV))
	}
	if in.memalign == nil || math.IsNaN(off) || off < 0 {
		return neg(fsErr(eINVAL))
	}
	size := (uint64(length) + 65535) / 65536 * 65536
	ptr := uint32(in.mustCall(in.memalign, 65536, size))
	if ptr == 0 {
		return neg(fsErr(48)) // ENOMEM
	}
	in.writeBytes(ptr, make([]byte, size))
	if o := int64(off); o < int64(len(st.node.data)) {
		in.writeBytes(ptr, st.node.data[o:min(int64(len(st.node.data)), o+int64(length))])
	}
	in.writeU32(allocated, 1)
	return uint64(ptr)
}

func (in *Instance) mmap32(s []uint64) {
	s[0] = in.mmap(uint32(s[0]), uint32(s[3]), float64(int32(uint32(s[4]))), uint32(s[5]))
}

func (in *Instance) mmap53(s []uint64) {
	s[0] = in.mmap(uint32(s[0]), uint32(s[3]), i53(uint32(s[4]), uint32(s[5])), uint32(s[6]))
}
