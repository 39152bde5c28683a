//go:build wasip1

package main

import "github.com/aonode/aonode/cu/wasi/guest"

var token = NewToken()

// init registers the process: a reactor's main never runs, package initialisation does.
func init() {
	guest.Handle(token.Handle)
}

func main() {}
