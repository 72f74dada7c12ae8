package netlab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// nsInfo is a namespace as the sweeper sees it.
type nsInfo struct {
	Name string
	Age  time.Duration // since the namespace was created; <0 if unknown
}

// recordInfo is an owner record as the sweeper sees it.
type recordInfo struct {
	Owner owner
	Valid bool // false if the record could not be parsed
	Age   time.Duration
}

// sweepPlan is what Sweep will delete.
type sweepPlan struct {
	Namespaces []string // to "ip netns del"
	Records    []string // prefixes whose record to remove
}

// planSweep decides, without touching anything, what Sweep removes:
//   - a namespace named like a lab's whose record names an owner that is
//     gone (alive reports false);
//   - a namespace named like a lab's with no record (or an unreadable one)
//     that is at least maxAge old: New writes the record before it creates
//     any namespace, so such a namespace was orphaned by hand or by a
//     failed Close; maxAge guards a run that is just starting;
//   - a record whose owner is gone, or that is unreadable and maxAge old,
//     once no namespace of its prefix is left.
//
// Names that do not match the pattern are never touched, nor is anything of
// a live owner, however old.
func planSweep(nss []nsInfo, records map[string]recordInfo, maxAge time.Duration, alive func(owner) bool) sweepPlan {
	var plan sweepPlan
	gone := map[string]bool{} // prefix -> owner known to be gone
	for p, r := range records {
		if r.Valid {
			gone[p] = !alive(r.Owner)
		} else {
			gone[p] = r.Age >= maxAge
		}
	}
	kept := map[string]bool{} // prefixes with a namespace left in place
	for _, n := range nss {
		prefix, _, ok := parseNSName(n.Name)
		if !ok {
			continue
		}
		_, hasRecord := records[prefix]
		switch {
		case hasRecord && gone[prefix]:
			plan.Namespaces = append(plan.Namespaces, n.Name)
		case !hasRecord && n.Age >= maxAge:
			plan.Namespaces = append(plan.Namespaces, n.Name)
		default:
			kept[prefix] = true
		}
	}
	for p := range records {
		if gone[p] && !kept[p] {
			plan.Records = append(plan.Records, p)
		}
	}
	slices.Sort(plan.Namespaces)
	slices.Sort(plan.Records)
	return plan
}

// Sweep removes the leftovers of lab runs that died without cleaning up
// (SIGKILL, a crash of the machine's test runner): namespaces named like a
// lab's whose owner process (from /run/gomip6-netlab/<prefix>.pid) is gone,
// namespaces named like a lab's that have no owner record and are at least
// maxAge old, and the stale records with the dead runs' log directories.
// Namespaces of running labs, whatever
// their age, and every namespace not named like a lab's are left alone. It
// returns the names of the namespaces it deleted.
//
// Processes still inside a deleted namespace are not killed (the lab that
// started them is gone, so they are not ours to kill; Start's Pdeathsig
// normally took them with their owner); they keep the namespace alive,
// unnamed, until they exit.
func Sweep(maxAge time.Duration) ([]string, error) {
	ctx := context.Background()
	names, err := listNetns(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var nss []nsInfo
	for _, name := range names {
		if _, _, ok := parseNSName(name); !ok {
			continue
		}
		age := time.Duration(-1)
		if fi, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
			age = now.Sub(fi.ModTime())
		}
		nss = append(nss, nsInfo{Name: name, Age: age})
	}
	records, err := readRecords(now)
	if err != nil {
		return nil, err
	}
	plan := planSweep(nss, records, maxAge, ownerAlive)
	var removed []string
	var errs []error
	failed := map[string]bool{}
	for _, name := range plan.Namespaces {
		if _, err := runCmd(ctx, "ip", "netns", "del", name); err != nil {
			p, _, _ := parseNSName(name)
			failed[p] = true
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	for _, p := range plan.Records {
		if failed[p] {
			continue
		}
		// The log directory of the dead run goes first: once the record
		// is gone a new run may draw the same prefix.
		dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "gomip6-netlab-"+p+"-*"))
		for _, d := range dirs {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, fmt.Errorf("netlab: %w", err))
			}
		}
		if err := os.Remove(recordPath(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("netlab: %w", err))
		}
	}
	return removed, errors.Join(errs...)
}

// readRecords reads every owner record in runDir.
func readRecords(now time.Time) (map[string]recordInfo, error) {
	ents, err := os.ReadDir(runDir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]recordInfo{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	recs := map[string]recordInfo{}
	for _, e := range ents {
		prefix, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok || !prefixRE.MatchString(prefix) || !e.Type().IsRegular() {
			continue
		}
		var r recordInfo
		if fi, err := e.Info(); err == nil {
			r.Age = now.Sub(fi.ModTime())
		}
		b, err := os.ReadFile(filepath.Join(runDir, e.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // its lab just closed
			}
			return nil, fmt.Errorf("netlab: %w", err)
		}
		if o, err := parseRecord(b); err == nil {
			r.Owner, r.Valid = o, true
		}
		recs[prefix] = r
	}
	return recs, nil
}
