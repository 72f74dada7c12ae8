package conf

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"90s", 90 * time.Second, ""},
		{"10m", 10 * time.Minute, ""},
		{"50ms", 50 * time.Millisecond, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"0s", 0, ""},
		{"600", 0, "not a duration"},
		{"", 0, "not a duration"},
		{"ten minutes", 0, "not a duration"},
		{"-1s", 0, "negative"},
	} {
		var d Duration
		err := d.UnmarshalText([]byte(tc.in))
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("UnmarshalText(%q) error = %v, want %q", tc.in, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("UnmarshalText(%q): %v", tc.in, err)
		case tc.wantErr == "" && d.Std() != tc.want:
			t.Errorf("UnmarshalText(%q) = %v, want %v", tc.in, d.Std(), tc.want)
		}
		if tc.wantErr == "" {
			text, _ := d.MarshalText()
			var back Duration
			if err := back.UnmarshalText(text); err != nil || back != d {
				t.Errorf("MarshalText round trip of %v: %q -> %v, %v", d, text, back, err)
			}
		}
	}
}

func TestSecret(t *testing.T) {
	var s Secret
	if err := s.UnmarshalText([]byte("MDEyMzQ1Njc4OWFiY2RlZg==")); err != nil {
		t.Fatal(err)
	}
	if string(s) != "0123456789abcdef" {
		t.Errorf("decoded %q", s)
	}
	// Printing a secret, however it is formatted, never shows it.
	for _, f := range []string{"%v", "%s", "%+v"} {
		if out := fmt.Sprintf(f, s); strings.Contains(out, "0123") || strings.Contains(out, "MDEy") {
			t.Errorf("Sprintf(%q) leaks the key: %s", f, out)
		}
	}
	if out := fmt.Sprintf("%+v", MobileNode{Key: s}); strings.Contains(out, "0123") {
		t.Errorf("a struct holding the key leaks it: %s", out)
	}
	text, _ := s.MarshalText()
	if string(text) != "MDEyMzQ1Njc4OWFiY2RlZg==" {
		t.Errorf("MarshalText = %s", text)
	}
	if err := s.UnmarshalText([]byte("MDEy*")); err == nil {
		t.Error("bad base64 accepted")
	}
}

func TestErrorsError(t *testing.T) {
	e := Errors{{Key: "home.prefix", Msg: "bad"}, {Key: "", Msg: "TOML syntax"}, {Key: "mobile_node[1].id", Msg: "dup"}}
	const want = "home.prefix: bad\nTOML syntax\nmobile_node[1].id: dup"
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestEditDistanceAndSuggest(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"interfce", "interface", 1}, {"spii", "spi", 1}, {"abc", "xyz", 3}, {"", "abc", 3}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
	keys := []string{"interface", "prefix", "address"}
	for k, want := range map[string]string{"interfce": "interface", "PREFIX": "prefix", "adress": "address", "colour": ""} {
		if got := suggest(k, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", k, got, want)
		}
	}
}
