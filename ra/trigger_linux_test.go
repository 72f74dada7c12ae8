package ra

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// TestSenderTrigger runs the send loop in a synctest bubble with a
// recording write: Trigger brings an RA forward, no two RAs are ever
// closer than MinDelayBetweenRAs, a burst of triggers gives one RA, and
// the triggered RA carries the parameters set just before it.
func TestSenderTrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := Timing{MinInterval: 100 * time.Second, MaxInterval: 200 * time.Second, MinDelayBetweenRAs: 3 * time.Second}
		sched, err := NewScheduler(tm, fixedRand{false})
		if err != nil {
			t.Fatal(err)
		}
		p := ParamsFromConfig(mustConf(t, ""), nil)
		s := newSender(SenderConfig{Params: p, Timing: tm, Now: time.Now}, sched)
		var (
			mu    sync.Mutex
			sent  []time.Duration
			ras   []*mip6.RouterAdvertisement
			start = time.Now()
		)
		s.write = func(b []byte) error {
			m, err := mip6.ParseICMP(b)
			if err != nil {
				t.Errorf("sent RA does not parse: %v", err)
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, time.Since(start))
			ras = append(ras, m.(*mip6.RouterAdvertisement))
			return nil
		}
		if err := s.SetParams(p); err != nil {
			t.Fatal(err)
		}
		s.sched.Start(time.Now())
		s.sendWG.Add(1)
		go s.sendLoop()
		count := func() int {
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			return len(sent)
		}

		// The first RA at once (Start); the next scheduled one 16 s
		// later (initial burst cap, rand 0 gives MinInterval 100 s).
		if n := count(); n != 1 {
			t.Fatalf("%d RAs at start, want 1", n)
		}
		// A trigger 1 s after it waits for MinDelayBetweenRAs: 3 s.
		time.Sleep(time.Second)
		s.Trigger()
		s.Trigger() // one RA for both
		time.Sleep(2*time.Second - time.Millisecond)
		if n := count(); n != 1 {
			t.Fatalf("%d RAs before MinDelayBetweenRAs passed, want 1", n)
		}
		time.Sleep(time.Millisecond)
		if n := count(); n != 2 {
			t.Fatalf("%d RAs at MinDelayBetweenRAs, want 2", n)
		}
		// Later, a trigger with new parameters: at once, and with them.
		time.Sleep(5 * time.Second)
		p2 := p
		p2.RouterLifetime = 1234 * time.Second
		if err := s.SetParams(p2); err != nil {
			t.Fatal(err)
		}
		s.Trigger()
		if n := count(); n != 3 {
			t.Fatalf("%d RAs after a trigger past the rate limit, want 3", n)
		}
		// The initial intervals start again: the next one 16 s later.
		time.Sleep(16*time.Second - time.Millisecond)
		if n := count(); n != 3 {
			t.Fatalf("%d RAs before 16 s, want 3", n)
		}
		time.Sleep(time.Millisecond)
		if n := count(); n != 4 {
			t.Fatalf("%d RAs at 16 s after the trigger, want 4", n)
		}

		close(s.stop)
		s.sendWG.Wait()
		mu.Lock()
		defer mu.Unlock()
		// The final RA too waits for MinDelayBetweenRAs (RFC 4861 §6.2.5).
		want := []time.Duration{0, 3 * time.Second, 8 * time.Second, 24 * time.Second, 27 * time.Second}
		if len(sent) != len(want) {
			t.Fatalf("RAs at %v, want %v (the last the final RA)", sent, want)
		}
		for i := range want {
			if sent[i] != want[i] {
				t.Errorf("RA %d at %v, want %v", i+1, sent[i], want[i])
			}
		}
		for i := 1; i < len(sent); i++ {
			if d := sent[i] - sent[i-1]; d < tm.MinDelayBetweenRAs {
				t.Errorf("RAs %d and %d %v apart, under MinDelayBetweenRAs", i, i+1, d)
			}
		}
		if got := ras[2].RouterLifetime; got != 1234*time.Second {
			t.Errorf("triggered RA's router lifetime %v, want the new 1234s", got)
		}
		if got := ras[4].RouterLifetime; got != 0 {
			t.Errorf("final RA's router lifetime %v, want 0", got)
		}
	})
}
