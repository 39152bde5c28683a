package node

import (
	"runtime"
	"testing"
)

func TestSetProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)

	t.Setenv("GOMAXPROCS", "3")
	runtime.GOMAXPROCS(3)
	if got := SetProcs(); got != 3 || runtime.GOMAXPROCS(0) != 3 {
		t.Fatalf("with GOMAXPROCS=3 in the environment: %d (runtime %d)", got, runtime.GOMAXPROCS(0))
	}
	t.Setenv("GOMAXPROCS", "")
	runtime.GOMAXPROCS(2)
	if got := SetProcs(); got != 4 || runtime.GOMAXPROCS(0) != 4 {
		t.Fatalf("without it: %d (runtime %d), want 4", got, runtime.GOMAXPROCS(0))
	}
}
