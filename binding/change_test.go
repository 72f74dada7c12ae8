package binding

import "testing"

func TestChangeString(t *testing.T) {
	for c, want := range map[Change]string{NoChange: "none", Created: "created", Refreshed: "refreshed", Moved: "moved", Deleted: "deleted", 9: "change(9)"} {
		if got := c.String(); got != want {
			t.Errorf("%d: %q, want %q", uint8(c), got, want)
		}
	}
}
