package loopcall

import (
	"context"
	"testing"
	"testing/synctest"
)

// TestDo: a call runs on the loop and Do returns after it; a stopped
// daemon or an ended context returns false without running fn, even with
// no loop receiving.
func TestDo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := make(chan Call)
		stop := make(chan struct{})
		loopDone := make(chan struct{})
		state := 0
		go func() { // the loop
			defer close(loopDone)
			for {
				select {
				case c := <-calls:
					state++
					c.Run()
				case <-stop:
					return
				}
			}
		}()
		var got int
		if !Do(t.Context(), calls, stop, func() { got = state }) {
			t.Fatal("Do = false with the loop running")
		}
		if got != 1 {
			t.Errorf("fn saw state %d, want 1 (run by the loop, after its update)", got)
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		close(stop)
		<-loopDone
		ran := false
		if Do(ctx, calls, make(chan struct{}), func() { ran = true }) || ran {
			t.Errorf("ended context: Do ran fn %v or returned true", ran)
		}
		if Do(t.Context(), calls, stop, func() { ran = true }) || ran {
			t.Errorf("stopped daemon: Do ran fn %v or returned true", ran)
		}
	})
}
