package clock

import (
	"context"
	"testing"
	"time"
)

func TestAdvanceFiresDueWaits(t *testing.T) {
	c := NewManual(time.Unix(100, 0))
	if got := <-c.After(0); !got.Equal(time.Unix(100, 0)) {
		t.Fatalf("After(0) = %v", got)
	}
	a, b := c.After(time.Second), c.After(3*time.Second)
	if err := c.WaitFor(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	c.Advance(999 * time.Millisecond)
	select {
	case <-a:
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Millisecond)
	if got := <-a; !got.Equal(time.Unix(101, 0)) {
		t.Fatalf("a fired at %v", got)
	}
	if c.Waiting() != 1 {
		t.Fatalf("%d waiting", c.Waiting())
	}
	c.Advance(5 * time.Second)
	<-b
	if !c.Now().Equal(time.Unix(106, 0)) || c.Waiting() != 0 {
		t.Fatalf("now %v, %d waiting", c.Now(), c.Waiting())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WaitFor(ctx, 1); err == nil {
		t.Fatal("WaitFor with nothing waiting returned nil")
	}
}
