//go:build !wasip1

package main

import (
	"fmt"
	"os"
)

// main explains how to build the process; natively only the token logic (and its tests) is
// useful.
func main() {
	fmt.Fprintln(os.Stderr, "token is a WASI reactor: build it with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared")
	os.Exit(2)
}
