//go:build wasip1

package guest

import "unsafe"

// inputs keeps the buffers handed out by aonode_alloc reachable until aonode_handle has read
// them; the garbage collector does not see the host's pointers.
var inputs [][]byte

// output keeps the last result reachable until the host has copied it, which it does before
// calling into the module again.
var output []byte

//go:wasmexport aonode_alloc
func aonodeAlloc(size int32) unsafe.Pointer {
	if size < 0 {
		return nil
	}
	b := make([]byte, size+1) // +1: a zero-length request still gets a valid address
	inputs = append(inputs, b)
	return unsafe.Pointer(&b[0])
}

//go:wasmexport aonode_handle
func aonodeHandle(msgPtr unsafe.Pointer, msgLen int32, envPtr unsafe.Pointer, envLen int32) int64 {
	msg := unsafe.Slice((*byte)(msgPtr), msgLen)
	env := unsafe.Slice((*byte)(envPtr), envLen)
	output = Evaluate(msg, env)
	inputs = nil
	return int64(uintptr(unsafe.Pointer(unsafe.SliceData(output))))<<32 | int64(len(output))
}
