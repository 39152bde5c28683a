package emscripten

import (
	"github.com/tetratelabs/wazero/api"

	"github.com/aonode/aonode/cu/module"
)

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
	f64 = api.ValueTypeF64
)

// hostFunc is one import the glue provides, with the signature the glue's wasm expects.
type hostFunc struct {
	params, results []api.ValueType
	fn              func(in *Instance, stack []uint64)
}

// exportNames are the module exports the glue calls; formats 1 minifies them.
type exportNames struct {
	handle, main, malloc, free, setThrew, stackSave, stackRestore, stackAlloc, ctors string
	stackInit, stackEnd, fflush, tempretSet, memalign                                string
}

func (e exportNames) required() []string {
	names := []string{e.handle, e.malloc, e.setThrew, e.stackSave, e.stackRestore, e.stackAlloc, e.ctors}
	if e.main != "" && e.main != "-" {
		names = append(names, e.main)
	}
	return names
}

// formatSpec is everything that differs between the loader's glue files.
type formatSpec struct {
	format  module.Format
	family  int    // 1, 2, 3 or 4: which glue file, or 4 for wasm64-emscripten.cjs, its 64-bit twin
	host    string // name of the host modules; formats with the same imports share them
	ptr64   bool   // memory64 module with i64 pointers and size_t (wasm64-emscripten.cjs)
	heapMax uint64
	exports exportNames
	imports map[string]map[string]hostFunc
	dynCall string // the export invoke_* calls through, if the glue does (emscripten4.cjs, wasm64)
	env     bool   // environ_get exposes the glue's default environment
}

const (
	heapMax12  = 524288000  // getHeapMax() in emscripten.cjs and emscripten2.cjs
	heapMax34  = 4294901760 // getHeapMax() in emscripten3.cjs and emscripten4.cjs
	asyncStack = 41943040   // Asyncify.StackSize in emscripten4.cjs
)

var specs = map[module.Format]*formatSpec{}

func init() {
	f1 := &formatSpec{format: module.Emscripten, family: 1, host: "emscripten1", heapMax: heapMax12, env: true,
		exports: exportNames{handle: "G", main: "H", malloc: "J", setThrew: "L", stackSave: "M", stackRestore: "N", stackAlloc: "O", ctors: "F"}}
	f1.imports = map[string]map[string]hostFunc{
		"a": {
			"a": {nil, r(f64), (*Instance).dateNow},
			"b": {p(i32), nil, (*Instance).setTempRet0},
			"c": {p(i32), r(i32), func(in *Instance, s []uint64) { s[0] = 52 }},
			"d": {p(i32, i32, i32), r(i32), ret0},
			"e": {p(i32, i32, i32), r(i32), ret0},
			"f": {p(i32, i32, i32, i32), r(i32), (*Instance).fdWrite},
			"g": {p(i32, i32, i32, i32), r(i32), ret0},
			"h": {nil, r(i32), (*Instance).getTempRet0},
			"i": {p(i32), r(i32), (*Instance).mktime32},
			"j": {p(i32, i32, i32), nil, (*Instance).tzset3},
			"k": {p(i32, i32, i32), nil, (*Instance).memcpy},
			"l": {p(i32), nil, (*Instance).exit},
			"m": {p(i32), r(i32), (*Instance).systemErrno},
			"n": {p(i32, i32, i32, i32), r(i32), (*Instance).strftime},
			"o": {p(i32, i32, i32, i32, i32), r(i32), func(in *Instance, s []uint64) { s[0] = 70 }},
			"p": {nil, nil, (*Instance).throwLongjmp},
			"q": {p(i32), r(i32), (*Instance).resizeHeap},
			"r": {p(i32, i32), r(i32), ret0},
			"s": {p(i32, i32, i32, i32), r(i32), ret0},
			"t": {p(i32), r(i32), ret0},
			"u": {p(i32, i32), r(i32), (*Instance).environGet},
			"v": {p(i32, i32), r(i32), (*Instance).environSizesGet},
			"w": {p(i32, i32, i32), r(i32), ret0},
			"x": {p(i32, i32, i32), nil, (*Instance).invokeVII},
			"y": {p(i32, i32, i32, i32), r(i32), func(in *Instance, s []uint64) { s[0] = 52 }},
			"z": {p(i32, i32, i32), r(i32), ret0},
			"A": {nil, r(i32), ret1},
			"B": {p(i32, i32), nil, (*Instance).gmtime32},
			"C": {p(i32, i32), nil, (*Instance).localtime32},
			"D": {nil, nil, (*Instance).abort},
		},
		"metering": meteringImports,
	}
	specs[f1.format] = f1

	wasi := map[string]hostFunc{
		"fd_write":          {p(i32, i32, i32, i32), r(i32), (*Instance).fdWrite},
		"fd_read":           {p(i32, i32, i32, i32), r(i32), (*Instance).fdRead},
		"fd_close":          {p(i32), r(i32), (*Instance).fdClose},
		"fd_sync":           {p(i32), r(i32), (*Instance).fdSync},
		"fd_fdstat_get":     {p(i32, i32), r(i32), (*Instance).fdFdstatGet},
		"environ_get":       {p(i32, i32), r(i32), (*Instance).environGet},
		"environ_sizes_get": {p(i32, i32), r(i32), (*Instance).environSizesGet},
	}
	// The builds legalise fd_seek's i64 offset into two i32 halves.
	wasi["fd_seek"] = hostFunc{p(i32, i32, i32, i32, i32), r(i32), (*Instance).fdSeek}

	common := map[string]hostFunc{
		"invoke_vii":                       {p(i32, i32, i32), nil, (*Instance).invokeVII},
		"_emscripten_throw_longjmp":        {nil, nil, (*Instance).throwLongjmp},
		"strftime":                         {p(i32, i32, i32, i32), r(i32), (*Instance).strftime},
		"exit":                             {p(i32), nil, (*Instance).exit},
		"emscripten_resize_heap":           {p(i32), r(i32), (*Instance).resizeHeap},
		"_emscripten_get_now_is_monotonic": {nil, r(i32), ret1},
		"emscripten_get_heap_max":          {nil, r(i32), (*Instance).getHeapMax},
		"__syscall_openat":                 {p(i32, i32, i32, i32), r(i32), (*Instance).sysOpenat},
		"__syscall_fcntl64":                {p(i32, i32, i32), r(i32), (*Instance).sysFcntl64},
		"__syscall_ioctl":                  {p(i32, i32, i32), r(i32), (*Instance).sysIoctl},
		"__syscall_dup3":                   {p(i32, i32, i32), r(i32), (*Instance).sysDup3},
		"__syscall_unlinkat":               {p(i32, i32, i32), r(i32), (*Instance).sysUnlinkat},
		"__syscall_rmdir":                  {p(i32), r(i32), (*Instance).sysRmdir},
		"__syscall_renameat":               {p(i32, i32, i32, i32), r(i32), (*Instance).sysRenameat},
		"__syscall_lstat64":                {p(i32, i32), r(i32), (*Instance).sysLstat64},
		"__syscall_stat64":                 {p(i32, i32), r(i32), (*Instance).sysStat64},
		"__syscall_fstat64":                {p(i32, i32), r(i32), (*Instance).sysFstat64},
		"__syscall_newfstatat":             {p(i32, i32, i32, i32), r(i32), (*Instance).sysNewfstatat},
		"__syscall_mkdirat":                {p(i32, i32, i32), r(i32), (*Instance).sysMkdirat},
		"__syscall_getcwd":                 {p(i32, i32), r(i32), (*Instance).sysGetcwd},
		"__syscall_readlinkat":             {p(i32, i32, i32, i32), r(i32), (*Instance).sysReadlinkat},
		"__syscall_faccessat":              {p(i32, i32, i32, i32), r(i32), (*Instance).sysFaccessat},
		"__syscall_chmod":                  {p(i32, i32), r(i32), (*Instance).sysChmod},
		"__syscall_fchmod":                 {p(i32, i32), r(i32), (*Instance).sysFchmod},
		"__syscall_fchown32":               {p(i32, i32, i32), r(i32), (*Instance).sysFchown32},
		"__syscall_utimensat":              {p(i32, i32, i32, i32), r(i32), (*Instance).sysUtimensat},
		"__syscall_ftruncate64":            {p(i32, i32, i32), r(i32), (*Instance).sysFtruncate64},
		"__assert_fail":                    {p(i32, i32, i32, i32), nil, (*Instance).assertFail},
	}

	env2 := clone(common)
	for k, v := range map[string]hostFunc{
		"abort":                 {nil, nil, (*Instance).abort},
		"getTempRet0":           {nil, r(i32), (*Instance).getTempRet0},
		"setTempRet0":           {p(i32), nil, (*Instance).setTempRet0},
		"system":                {p(i32), r(i32), (*Instance).systemErrno},
		"emscripten_memcpy_big": {p(i32, i32, i32), nil, (*Instance).memcpy},
		"_tzset_js":             {p(i32, i32, i32), nil, (*Instance).tzset3},
		"_mktime_js":            {p(i32), r(i32), (*Instance).mktime32},
		"_localtime_js":         {p(i32, i32), nil, (*Instance).localtime32},
		"_gmtime_js":            {p(i32, i32), nil, (*Instance).gmtime32},
		"_emscripten_date_now":  {nil, r(f64), (*Instance).dateNow},
		"emscripten_get_now":    {nil, r(f64), (*Instance).getNowNaN},
		"_dlopen_js":            {p(i32), r(i32), ret0},
		"_dlsym_js":             {p(i32, i32), r(i32), ret0},
		"_dlinit":               {p(i32), nil, func(*Instance, []uint64) {}},
		"_mmap_js":              {p(i32, i32, i32, i32, i32, i32), r(i32), (*Instance).mmap32},
		"_munmap_js":            {p(i32, i32, i32, i32, i32, i32), r(i32), ret0},
	} {
		env2[k] = v
	}
	f2 := &formatSpec{format: module.Emscripten2, family: 2, host: "emscripten2", heapMax: heapMax12, env: true,
		exports: exportNames{handle: "handle", main: "main", malloc: "malloc", free: "free", setThrew: "setThrew",
			stackSave: "stackSave", stackRestore: "stackRestore", stackAlloc: "stackAlloc", ctors: "__wasm_call_ctors",
			stackInit: "emscripten_stack_init", stackEnd: "emscripten_stack_get_end", fflush: "fflush", memalign: "emscripten_builtin_memalign"},
		imports: map[string]map[string]hostFunc{"env": env2, "wasi_snapshot_preview1": wasi, "metering": meteringImports}}
	specs[f2.format] = f2

	env34 := clone(common)
	for k, v := range map[string]hostFunc{
		"abort":                       {nil, nil, (*Instance).abort},
		"_abort_js":                   {nil, nil, (*Instance).abort},
		"emscripten_memcpy_js":        {p(i32, i32, i32), nil, (*Instance).memcpy},
		"_emscripten_memcpy_js":       {p(i32, i32, i32), nil, (*Instance).memcpy},
		"_emscripten_system":          {p(i32), r(i32), (*Instance).systemNeg},
		"_tzset_js":                   {p(i32, i32, i32, i32), nil, (*Instance).tzset4},
		"_mktime_js":                  {p(i32), r(i32), (*Instance).mktime53},
		"_localtime_js":               {p(i32, i32, i32), nil, (*Instance).localtime53},
		"_gmtime_js":                  {p(i32, i32, i32), nil, (*Instance).gmtime53},
		"emscripten_date_now":         {nil, r(f64), (*Instance).dateNow},
		"emscripten_get_now":          {nil, r(f64), (*Instance).dateNow},
		"_mmap_js":                    {p(i32, i32, i32, i32, i32, i32, i32), r(i32), (*Instance).mmap53},
		"_munmap_js":                  {p(i32, i32, i32, i32, i32, i32, i32), r(i32), ret0},
		"metering_gasUsed":            {nil, r(i32), (*Instance).meteringGasUsed},
		"__asyncjs__weavedrive_open":  {p(i32, i32), r(i32), (*Instance).weavedriveOpen},
		"__asyncjs__weavedrive_read":  {p(i32, i32, i32), r(i32), (*Instance).weavedriveUnavailable},
		"__asyncjs__weavedrive_close": {p(i32), r(i32), (*Instance).weavedriveUnavailable},
	} {
		env34[k] = v
	}
	names34 := exportNames{handle: "handle", main: "main", malloc: "malloc", free: "free", setThrew: "setThrew",
		stackInit: "emscripten_stack_init", stackEnd: "emscripten_stack_get_end", fflush: "fflush",
		ctors: "__wasm_call_ctors", memalign: "emscripten_builtin_memalign", tempretSet: "_emscripten_tempret_set"}
	f3names := names34
	f3names.stackSave, f3names.stackRestore, f3names.stackAlloc = "stackSave", "stackRestore", "stackAlloc"
	f3 := &formatSpec{format: module.Emscripten3, family: 3, host: "emscripten3", heapMax: heapMax34, exports: f3names, env: true,
		imports: map[string]map[string]hostFunc{"env": env34, "wasi_snapshot_preview1": wasi, "metering": meteringImports}}
	specs[f3.format] = f3

	f4names := names34
	f4names.main = "-" // emscripten4.cjs never calls main
	f4names.stackSave, f4names.stackRestore, f4names.stackAlloc = "emscripten_stack_get_current", "_emscripten_stack_restore", "_emscripten_stack_alloc"
	// emscripten4.cjs is patched to expose no environment.
	f4 := &formatSpec{format: module.Emscripten4, family: 4, host: "emscripten4", heapMax: heapMax34, exports: f4names, dynCall: "dynCall_vii",
		imports: map[string]map[string]hostFunc{"env": env34, "wasi_snapshot_preview1": wasi, "metering": meteringImports}}
	specs[f4.format] = f4

	w64 := wasm64Spec()
	specs[w64.format] = w64
}

var meteringImports = map[string]hostFunc{"usegas": {p(i32), nil, (*Instance).useGas}}

func specFor(f module.Format) (*formatSpec, error) {
	s, ok := specs[f]
	if !ok {
		return nil, &FormatError{Format: string(f)}
	}
	return s, nil
}

func p(t ...api.ValueType) []api.ValueType { return t }
func r(t ...api.ValueType) []api.ValueType { return t }

func ret0(_ *Instance, s []uint64) { s[0] = 0 }
func ret1(_ *Instance, s []uint64) { s[0] = 1 }

func clone(m map[string]hostFunc) map[string]hostFunc {
	c := make(map[string]hostFunc, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
