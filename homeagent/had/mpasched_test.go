package had

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	mpaT0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mpaHoA = netip.MustParseAddr("2001:db8:100::10")
	mpaHoB = netip.MustParseAddr("2001:db8:100::11")
)

// fixedRand returns v for every draw (clamped into [0, n)) and records the
// bounds asked for.
type fixedRand struct {
	v  int64
	ns []int64
}

func (r *fixedRand) Int64N(n int64) int64 {
	r.ns = append(r.ns, n)
	return min(r.v, n-1)
}

// TestMPARandAdvDelay checks RAND_ADV_DELAY against RFC 6275 §10.6.2:
// MinMobPfxAdvInterval + rand() % |min(MaxMobPfxAdvInterval, preferred)
// - MinMobPfxAdvInterval|.
func TestMPARandAdvDelay(t *testing.T) {
	for _, tc := range []struct {
		name                string
		min, max, preferred time.Duration
		r                   int64
		want                time.Duration
		wantN               []int64
	}{
		// The defaults of §13: 600 s and 86400 s, a long preferred
		// lifetime; rand() = 0 gives the minimum.
		{"defaults low", 600 * time.Second, 86400 * time.Second, 7 * 24 * time.Hour, 0, 600 * time.Second, []int64{int64(85800 * time.Second)}},
		// rand() near its top: just under MaxMobPfxAdvInterval.
		{"defaults high", 600 * time.Second, 86400 * time.Second, 7 * 24 * time.Hour, 1 << 62, 86400*time.Second - 1, []int64{int64(85800 * time.Second)}},
		// The preferred lifetime below MaxMobPfxAdvInterval bounds it.
		{"preferred bounds", 600 * time.Second, 86400 * time.Second, 3600 * time.Second, int64(1000 * time.Second), 1600 * time.Second, []int64{int64(3000 * time.Second)}},
		// Min equal to the schedule's maximum: no random part.
		{"no span", 600 * time.Second, 600 * time.Second, time.Hour, 5, 600 * time.Second, nil},
		// A preferred lifetime under MinMobPfxAdvInterval: the absolute
		// value of the text makes the span 600 - 200 s, above the minimum.
		{"preferred below min", 600 * time.Second, 86400 * time.Second, 200 * time.Second, int64(100 * time.Second), 700 * time.Second, []int64{int64(400 * time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &fixedRand{v: tc.r}
			s := newMPASchedule(tc.min, tc.max, tc.preferred, r.Int64N)
			if got := s.randAdvDelay(); got != tc.want {
				t.Errorf("RAND_ADV_DELAY %v, want %v", got, tc.want)
			}
			if diff := cmp.Diff(tc.wantN, r.ns); diff != "" {
				t.Errorf("rand bounds (-want +got):\n%s", diff)
			}
		})
	}
}

// mpaStep is one step of a schedule scenario: the time, an event, and the
// transmissions take returns then.
type mpaStep struct {
	at     time.Duration // since mpaT0
	event  string        // "", "add", "solicit", "bu", "change", "remove"
	hoa    netip.Addr
	want   []mpaDue
	gaveUp []netip.Addr
	// acked and restarted are the results of solicited and
	// bindingUpdate.
	acked, restarted bool
}

// TestMPASchedule runs scenarios through the schedule with made-up times
// (MinMobPfxAdvInterval 10 s, MaxMobPfxAdvInterval 20 s, rand() = 0 so
// RAND_ADV_DELAY is 10 s).
func TestMPASchedule(t *testing.T) {
	s := time.Second
	unsol := func(h netip.Addr) mpaDue { return mpaDue{hoa: h, kind: mpaUnsolicited, try: 1} }
	retr := func(h netip.Addr, try int) mpaDue { return mpaDue{hoa: h, kind: mpaRetransmission, try: try} }
	for _, tc := range []struct {
		name  string
		steps []mpaStep
	}{
		{"periodic, answered", []mpaStep{
			{at: 0, event: "add", hoa: mpaHoA},
			{at: 9 * s},
			// RAND_ADV_DELAY after registering.
			{at: 10 * s, want: []mpaDue{unsol(mpaHoA)}},
			{at: 12 * s},
			{at: 12 * s, event: "solicit", hoa: mpaHoA, acked: true},
			// Answered: no retransmission at 13 s; the next one
			// RAND_ADV_DELAY after the answer.
			{at: 13 * s},
			{at: 21 * s},
			{at: 22 * s, want: []mpaDue{unsol(mpaHoA)}},
		}},
		{"unanswered: PREFIX_ADV_TIMEOUT doubling, PREFIX_ADV_RETRIES", []mpaStep{
			{at: 0, event: "add", hoa: mpaHoA},
			{at: 10 * s, want: []mpaDue{unsol(mpaHoA)}},
			{at: 12 * s},
			// 3 s, then 6 s, then 12 s (§10.6.2, §12).
			{at: 13 * s, want: []mpaDue{retr(mpaHoA, 2)}},
			{at: 18 * s},
			{at: 19 * s, want: []mpaDue{retr(mpaHoA, 3)}},
			{at: 30 * s},
			{at: 31 * s, want: []mpaDue{retr(mpaHoA, 4)}},
			// Three retransmissions: given up after the last one's
			// wait, without sending.
			{at: 54 * s},
			{at: 55 * s, gaveUp: []netip.Addr{mpaHoA}},
			// The next periodic one RAND_ADV_DELAY later.
			{at: 64 * s},
			{at: 65 * s, want: []mpaDue{unsol(mpaHoA)}},
		}},
		{"binding update restarts an unanswered one", []mpaStep{
			{at: 0, event: "add", hoa: mpaHoA},
			{at: 10 * s, want: []mpaDue{unsol(mpaHoA)}},
			// A refresh while retransmitting changes nothing.
			{at: 11 * s, event: "bu", hoa: mpaHoA},
			{at: 13 * s, want: []mpaDue{retr(mpaHoA, 2)}},
			{at: 19 * s, want: []mpaDue{retr(mpaHoA, 3)}},
			{at: 31 * s, want: []mpaDue{retr(mpaHoA, 4)}},
			{at: 55 * s, gaveUp: []netip.Addr{mpaHoA}},
			{at: 60 * s, event: "bu", hoa: mpaHoA, restarted: true},
			{at: 60 * s, want: []mpaDue{unsol(mpaHoA)}},
			{at: 63 * s, want: []mpaDue{retr(mpaHoA, 2)}},
			// A second refresh does not restart again.
			{at: 64 * s, event: "bu", hoa: mpaHoA},
			{at: 64 * s},
			{at: 64 * s, event: "solicit", hoa: mpaHoA, acked: true},
			{at: 69 * s},
		}},
		{"change: at once, every node, retries from scratch", []mpaStep{
			{at: 0, event: "add", hoa: mpaHoA},
			{at: 5 * s, event: "add", hoa: mpaHoB},
			{at: 10 * s, want: []mpaDue{unsol(mpaHoA)}},
			{at: 13 * s, want: []mpaDue{retr(mpaHoA, 2)}},
			{at: 14 * s, event: "change"},
			{at: 14 * s, want: []mpaDue{unsol(mpaHoA), unsol(mpaHoB)}},
			{at: 17 * s, want: []mpaDue{retr(mpaHoA, 2), retr(mpaHoB, 2)}},
		}},
		{"removed: cancelled", []mpaStep{
			{at: 0, event: "add", hoa: mpaHoA},
			{at: 10 * s, want: []mpaDue{unsol(mpaHoA)}},
			{at: 11 * s, event: "remove", hoa: mpaHoA},
			{at: 13 * s},
			{at: 100 * s},
			// A solicitation from a node the schedule does not know
			// (bound before a restart without state) starts it.
			{at: 100 * s, event: "solicit", hoa: mpaHoA},
			{at: 110 * s, want: []mpaDue{unsol(mpaHoA)}},
		}},
		{"add keeps a running schedule", []mpaStep{
			{at: 0, event: "add", hoa: mpaHoA},
			{at: 8 * s, event: "add", hoa: mpaHoA},
			{at: 10 * s, want: []mpaDue{unsol(mpaHoA)}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newMPASchedule(10*time.Second, 20*time.Second, time.Hour, (&fixedRand{}).Int64N)
			for i, st := range tc.steps {
				now := mpaT0.Add(st.at)
				var acked, restarted bool
				switch st.event {
				case "add":
					sc.add(st.hoa, now)
				case "solicit":
					acked = sc.solicited(st.hoa, now)
				case "bu":
					restarted = sc.bindingUpdate(st.hoa, now)
				case "change":
					sc.changedAll(now)
				case "remove":
					sc.remove(st.hoa)
				case "":
					due, gaveUp := sc.take(now, 10, nil)
					sortDue(due)
					if diff := cmp.Diff(st.want, due, cmp.AllowUnexported(mpaDue{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
						t.Errorf("step %d at %v: due (-want +got):\n%s", i, st.at, diff)
					}
					if diff := cmp.Diff(st.gaveUp, gaveUp, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
						t.Errorf("step %d at %v: gave up (-want +got):\n%s", i, st.at, diff)
					}
				}
				if acked != st.acked || restarted != st.restarted {
					t.Errorf("step %d at %v %s: acked %v restarted %v, want %v %v", i, st.at, st.event, acked, restarted, st.acked, st.restarted)
				}
			}
		})
	}
}

// TestMPAScheduleLimit checks the pacing: take returns at most limit
// transmissions, the rest stay due for the next call.
func TestMPAScheduleLimit(t *testing.T) {
	sc := newMPASchedule(10*time.Second, 20*time.Second, time.Hour, (&fixedRand{}).Int64N)
	for i := range 25 {
		sc.add(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), mpaT0)
	}
	sc.changedAll(mpaT0)
	seen := map[netip.Addr]bool{}
	for i, want := range []int{10, 10, 5, 0} {
		due, _ := sc.take(mpaT0.Add(time.Duration(i)*time.Second/2), 10, nil) // within PREFIX_ADV_TIMEOUT: no retransmission yet
		if len(due) != want {
			t.Fatalf("take %d: %d due, want %d", i, len(due), want)
		}
		for _, x := range due {
			if seen[x.hoa] || x.kind != mpaUnsolicited {
				t.Errorf("take %d: %v (%v) again", i, x.hoa, x.kind)
			}
			seen[x.hoa] = true
		}
	}
}

func sortDue(d []mpaDue) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j].hoa.Less(d[j-1].hoa); j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
