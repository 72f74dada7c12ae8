package mnd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/daemon"
)

// sysctlJournalPath is where the daemon of cfg keeps its sysctl journal
// (sysctl.go): next to its control socket, which is per daemon, in a
// directory only root writes (/run/gomip6), and which -cleanup finds from
// the same mnd.toml.
func sysctlJournalPath(cfg *conf.MN) string { return cfg.Control.Socket + ".sysctl" }

// readSysctlJournal reads the journal at path; a missing file is an
// empty journal.
func readSysctlJournal(path string) ([]sysctlSave, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mnd: sysctl journal: %w", err)
	}
	return parseSysctlJournal(b)
}

// writeSysctlJournal replaces the journal at path with s atomically (a
// crash leaves the previous journal or the new one, whole), or removes
// it when s is empty.
func writeSysctlJournal(path string, s []sysctlSave) (err error) {
	if len(s) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(formatSysctlJournal(s)); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func readSysctlPath(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

// setSysctl sets an IPv6 sysctl of iface, first recording its original
// value in memory and in the journal. A sysctl already recorded (set
// twice, or by a crashed run whose journal was found) keeps its first
// original value. The tunnel device's are not recorded: it is ours and
// goes at shutdown with its settings.
func (r *engine) setSysctl(iface, key, value string) {
	journal := iface != r.cfg.TunnelInterface
	// Loaded at the first change of an access interface, which comes
	// after the control socket was opened: a second daemon started by
	// mistake with the same mnd.toml fails before and never takes the
	// running one's journal.
	if journal && !r.sysctlLoaded {
		r.sysctlLoaded = true
		r.sysctlJournal = sysctlJournalPath(r.cfg)
		s, err := readSysctlJournal(r.sysctlJournal)
		if err != nil {
			r.log.Warn("reading the sysctl journal of a previous run", zap.Error(err))
		}
		for _, e := range s {
			if !r.sysctlRecorded(e.path) {
				r.sysctls = append(r.sysctls, e)
			}
		}
		if len(r.sysctls) > 0 {
			r.log.Info("a previous run left sysctls changed; restoring them at shutdown", zap.Int("sysctls", len(r.sysctls)))
		}
	}
	path := sysctlPath(iface, key)
	old, err := readSysctlPath(path)
	if err == nil && old != value && journal && !r.sysctlRecorded(path) {
		r.sysctls = append(r.sysctls, sysctlSave{path, old})
		if err := writeSysctlJournal(r.sysctlJournal, r.sysctls); err != nil {
			r.log.Warn("recording a sysctl's original value: -cleanup after a crash cannot restore it", daemon.Iface(iface), zap.String("key", key), zap.Error(err))
		}
	}
	if err == nil && old != value {
		err = writeSysctlPath(path, value)
	}
	if err != nil {
		r.log.Warn("sysctl", daemon.Iface(iface), zap.String("key", key), zap.Error(err))
	}
}

// sysctlRecorded reports whether the original value of the sysctl at
// path is recorded already.
func (r *engine) sysctlRecorded(path string) bool {
	return slices.ContainsFunc(r.sysctls, func(x sysctlSave) bool { return x.path == path })
}

// restoreSysctls gives every recorded sysctl its original value back, in
// reverse order, and removes the journal. A sysctl whose interface is
// gone has nothing left to restore.
func (r *engine) restoreSysctls() {
	for i := len(r.sysctls) - 1; i >= 0; i-- {
		if err := writeSysctlPath(r.sysctls[i].path, r.sysctls[i].old); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("restoring a sysctl", zap.String("path", r.sysctls[i].path), zap.Error(err))
		}
	}
	r.sysctls = nil
	if r.sysctlLoaded {
		if err := writeSysctlJournal(r.sysctlJournal, nil); err != nil {
			r.log.Warn("removing the sysctl journal", zap.Error(err))
		}
	}
}

// cleanupSysctls restores the sysctls a crashed run recorded in its
// journal (Cleanup), says so on w, and removes the journal; it returns
// how many it restored.
func cleanupSysctls(cfg *conf.MN, w io.Writer) (int, error) {
	path := sysctlJournalPath(cfg)
	s, perr := readSysctlJournal(path)
	n := 0
	var errs []error
	for i := len(s) - 1; i >= 0; i-- {
		err := writeSysctlPath(s[i].path, s[i].old)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// The interface is gone, and its settings with it.
		case err != nil:
			errs = append(errs, fmt.Errorf("restoring %s: %w", s[i].path, err))
		default:
			fmt.Fprintf(w, "mnd: restored %s to %s\n", s[i].path, s[i].old)
			n++
		}
	}
	if len(errs) == 0 {
		if err := writeSysctlJournal(path, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(append(errs, perr)...)
}
