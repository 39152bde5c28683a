package emscripten

import "errors"

// trapMessage maps a wazero trap to the message V8 gives the same trap, which is what the
// reference CU stores as Error.
func trapMessage(err error) (string, bool) {
	msgs := []struct{ sub, v8 string }{
		{"unreachable", "unreachable"},
		{"out of bounds memory access", "memory access out of bounds"},
		{"integer divide by zero", "divide by zero"},
		{"integer overflow", "divide result unrepresentable"},
		{"invalid conversion to integer", "float unrepresentable in integer range"},
		{"invalid table access", "table index is out of bounds"},
		{"indirect call type mismatch", "null function or function signature mismatch"},
		{"stack overflow", "Maximum call stack size exceeded"},
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		s := e.Error()
		for _, m := range msgs {
			if len(s) >= len(m.sub) && s[:len(m.sub)] == m.sub {
				return m.v8, true
			}
		}
	}
	return "", false
}
