package mnd

import (
	"bytes"
	"fmt"
	"strings"
)

// The sysctl journal: the original values of the sysctls the daemon
// changed on the access interfaces (optimistic_dad and use_optimistic,
// RFC 4429), kept in a file next to the control socket
// (sysctlJournalPath), written before each change. A clean shutdown
// restores them from memory and removes the file; after a crash, -cleanup
// (Cleanup) restores them from the file, and so does the next daemon at
// its shutdown: it takes the file's values as the originals, since the
// values it finds are the crashed run's.
//
// The format is a line per sysctl, "path<TAB>value", in the order of the
// changes; restoring goes in reverse.

// sysctlSave is a sysctl the daemon changed: its /proc/sys path and the
// value it had before.
type sysctlSave struct{ path, old string }

// sysctlRoot is the only tree the journal may name: a journal is read
// back as root, and must not be a way to write any other sysctl.
const sysctlRoot = "/proc/sys/net/ipv6/conf/"

func sysctlPath(iface, key string) string { return sysctlRoot + iface + "/" + key }

// validSysctlPath reports whether p is sysctlRoot/IFACE/KEY with no
// other path element (an interface name cannot hold a slash, and "." or
// ".." would leave the tree).
func validSysctlPath(p string) bool {
	rest, ok := strings.CutPrefix(p, sysctlRoot)
	if !ok {
		return false
	}
	iface, key, ok := strings.Cut(rest, "/")
	bad := func(s string) bool { return s == "" || s == "." || s == ".." || strings.Contains(s, "/") }
	return ok && !bad(iface) && !bad(key)
}

// formatSysctlJournal is the file's content for s.
func formatSysctlJournal(s []sysctlSave) []byte {
	var b bytes.Buffer
	for _, e := range s {
		b.WriteString(e.path)
		b.WriteByte('\t')
		b.WriteString(e.old)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// parseSysctlJournal reads a journal. Lines that are not a valid entry
// are skipped and reported in the error, the valid ones returned: a
// damaged file still gives back what it can.
func parseSysctlJournal(b []byte) ([]sysctlSave, error) {
	var s []sysctlSave
	var bad []string
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		path, old, ok := strings.Cut(line, "\t")
		if !ok || !validSysctlPath(path) || strings.ContainsAny(old, "\t\r") {
			bad = append(bad, fmt.Sprintf("line %d", i+1))
			continue
		}
		s = append(s, sysctlSave{path, old})
	}
	if len(bad) > 0 {
		return s, fmt.Errorf("mnd: sysctl journal: invalid %s", strings.Join(bad, ", "))
	}
	return s, nil
}
