package conf

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCNDefaults(t *testing.T) {
	c, err := ParseCN(nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := &CN{
		RouteOptimization:  true,
		MaxBindingLifetime: Duration(420 * time.Second),
		RateLimit:          RateLimit{Rate: 10, Burst: 20},
		Control:            Control{Socket: "/run/gomip6/cnd.sock"},
		Log:                Log{Level: "info", Format: "json"},
	}
	if diff := cmp.Diff(wantCfg, c); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestParseCNProblems(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []want
	}{
		{"off", "route_optimization = false", nil},
		{"route_optimization not a bool", `route_optimization = "yes"`, []want{{"route_optimization", "want true or false"}}},
		{"lifetime at MAX_RR_BINDING_LIFETIME", `max_binding_lifetime = "420s"`, nil},
		{"lifetime above MAX_RR_BINDING_LIFETIME", `max_binding_lifetime = "424s"`, []want{{"max_binding_lifetime", "MAX_RR_BINDING_LIFETIME"}}},
		{"lifetime not multiple", `max_binding_lifetime = "90s"`, []want{{"max_binding_lifetime", "use 1m28s or 1m32s"}}},
		{"lifetime zero", `max_binding_lifetime = "0s"`, []want{{"max_binding_lifetime", "positive"}}},
		{"burst negative", "[rate_limit]\nburst = -1", []want{{"rate_limit.burst", "at least 1"}}},
		{"rate not an integer", "[rate_limit]\nrate = 1.5", []want{{"rate_limit.rate", "want an integer, got float 1.5"}}},
		{"rate too big for int", "[rate_limit]\nrate = 9223372036854775807", nil},
		{"socket", "[control]\nsocket = \"cnd.sock\"", []want{{"control.socket", "absolute"}}},
		{"metrics", "[control]\nmetrics_listen = \"127.0.0.1:99999\"", []want{{"control.metrics_listen", "port"}}},
		{"log", "[log]\nlevel = \"fatal\"", []want{{"log.level", "not one of"}}},
		{"mnd key in cnd", `home_address = "2001:db8::1"`, []want{{"home_address", "unknown key"}}},
		{"unknown nested", "[control]\nsockett = \"/x\"", []want{{"control.sockett", "did you mean socket?"}}},
		{"many", "route_optimization = 1\nmax_binding_lifetime = \"1h\"\n[log]\nformat = \"xml\"\n[control]\nsocket = \"x\"",
			[]want{{"route_optimization", "want true or false"}, {"max_binding_lifetime", "exceeds"}, {"log.format", "not one of"}, {"control.socket", "absolute"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCN([]byte(tc.toml))
			checkProblems(t, err, tc.want)
		})
	}
}
