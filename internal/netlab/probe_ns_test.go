package netlab

import (
	"os"
	"testing"
)

// TestProbeRootKeepsNamespace: after the probe, every thread of the
// process is still in the namespace the process started in.
func TestProbeRootKeepsNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	want, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if r := probeRoot(); r != "" {
			t.Skip(r)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		got, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net")
		if err != nil {
			continue // the thread ended meanwhile
		}
		if got != want {
			t.Errorf("thread %s in %s after probeRoot, want %s", task.Name(), got, want)
		}
	}
}
