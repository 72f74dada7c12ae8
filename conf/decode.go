package conf

import (
	"encoding"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// decoder fills a configuration struct from the decoded TOML tree. The
// exported struct is the schema: a field's toml tag is its key. It records
// every problem and carries on, so that one load reports them all.
type decoder struct {
	problems Errors
	// defined holds the path of every key present in the file, valid or
	// not; bad those whose value could not be decoded (left at the default).
	defined map[string]bool
	bad     map[string]bool
}

// defaulter is implemented by the element types of arrays of tables and by
// optional sections, so that a [[mobile_node]] or an [uplink] starts from
// its defaults before the file's keys are applied.
type defaulter interface{ setDefaults() }

func (d *decoder) addf(key, format string, args ...any) {
	d.problems = append(d.problems, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// decodeFile parses data as TOML and decodes it over dst, a pointer to a
// struct already holding the defaults. It reports false when the file is
// not TOML at all, in which case the one problem says where.
func decodeFile(data []byte, dst any) (*decoder, bool) {
	d := &decoder{defined: map[string]bool{}, bad: map[string]bool{}}
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			d.addf("", "TOML syntax, line %d column %d: %s", pe.Position.Line, pe.Position.Col, pe.Message)
		} else {
			d.addf("", "TOML: %v", err)
		}
		return d, false
	}
	d.table("", tree, reflect.ValueOf(dst).Elem())
	return d, true
}

// sortProblems orders the problems by section, in the order of the schema
// (the order of the example files), and by array element within a
// section, keeping the order in which they were found otherwise. Decoding
// and validation run in two passes; without this, an unknown key and a
// bad value in the same [home] would be reported far apart.
func (d *decoder) sortProblems(schema reflect.Type) {
	rank := map[string]int{}
	for i, f := range schemaFields(schema) {
		rank[f.key] = i
	}
	order := func(key string) (int, int) {
		if key == "" {
			return -1, 0
		}
		top, _, _ := strings.Cut(key, ".")
		name, idx, _ := strings.Cut(top, "[")
		r, ok := rank[name]
		if !ok {
			r = len(rank) // unknown top-level keys last
		}
		n := 0
		if idx != "" {
			n, _ = strconv.Atoi(strings.TrimSuffix(idx, "]"))
		}
		return r, n
	}
	slices.SortStableFunc(d.problems, func(a, b Problem) int {
		ra, na := order(a.Key)
		rb, nb := order(b.Key)
		if ra != rb {
			return ra - rb
		}
		return na - nb
	})
}

// field is one key of a table in the schema.
type field struct {
	key   string
	index int
}

func schemaFields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fs = append(fs, field{key: name, index: i})
	}
	return fs
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// table decodes the TOML table m at path into the struct rv: known keys in
// schema order, then every key the schema does not have, sorted.
func (d *decoder) table(path string, m map[string]any, rv reflect.Value) {
	fs := schemaFields(rv.Type())
	known := make(map[string]bool, len(fs))
	for _, f := range fs {
		known[f.key] = true
		v, ok := m[f.key]
		if !ok {
			continue
		}
		p := join(path, f.key)
		d.defined[p] = true
		d.value(p, v, rv.Field(f.index))
	}
	var unknown []string
	for k := range m {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		what := "unknown key"
		switch m[k].(type) {
		case map[string]any:
			what = "unknown table"
		case []map[string]any:
			what = "unknown array of tables"
		}
		// Quote keys that are not bare TOML keys, as toml.Key does.
		p := join(path, toml.Key{k}.String())
		d.bad[p] = true
		keys := make([]string, len(fs))
		for i, f := range fs {
			keys[i] = f.key
		}
		if s := suggest(k, keys); s != "" {
			d.addf(p, "%s (did you mean %s?)", what, s)
		} else {
			d.addf(p, "%s (this section knows: %s)", what, strings.Join(keys, ", "))
		}
	}
}

var (
	durationType = reflect.TypeFor[Duration]()
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	secretType   = reflect.TypeFor[Secret]()
)

// wantOf names, for messages, what a key of type t must hold.
func wantOf(t reflect.Type) string {
	switch t {
	case durationType:
		return `a duration string such as "90s" or "10m"`
	case addrType:
		return "an address string"
	case prefixType:
		return `a prefix string such as "2001:db8::/64"`
	case secretType:
		return "a base64 string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct && !isLeaf(t.Elem()) {
			return "an array of tables"
		}
		return "an array"
	case reflect.Struct, reflect.Pointer:
		return "a table"
	}
	return t.String()
}

func isLeaf(t reflect.Type) bool {
	return t == durationType || t == addrType || t == prefixType || t == secretType
}

// gotOf describes a decoded TOML value for messages.
func gotOf(v any) string {
	switch x := v.(type) {
	case string:
		return "string " + strconv.Quote(x)
	case int64:
		return "integer " + strconv.FormatInt(x, 10)
	case float64:
		return "float " + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	}
	return fmt.Sprintf("%T", v)
}

func (d *decoder) mismatch(path string, v any, t reflect.Type) {
	d.bad[path] = true
	d.addf(path, "want %s, got %s", wantOf(t), gotOf(v))
}

// value decodes one TOML value v into fv.
func (d *decoder) value(path string, v any, fv reflect.Value) {
	t := fv.Type()
	switch t {
	case addrType, prefixType, durationType, secretType:
		s, ok := v.(string)
		if !ok {
			d.mismatch(path, v, t)
			return
		}
		d.text(path, s, fv)
		return
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.mismatch(path, v, t)
			return
		}
		fv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.mismatch(path, v, t)
			return
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			d.mismatch(path, v, t)
			return
		}
		if fv.OverflowInt(n) {
			d.bad[path] = true
			d.addf(path, "%d is out of range (%d bits)", n, t.Bits())
			return
		}
		fv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(int64)
		if !ok {
			d.mismatch(path, v, t)
			return
		}
		if n < 0 || fv.OverflowUint(uint64(n)) {
			d.bad[path] = true
			d.addf(path, "%d is out of range (0 to %d)", n, uint64(1)<<t.Bits()-1)
			return
		}
		fv.SetUint(uint64(n))
	case reflect.Slice:
		var items []any
		switch x := v.(type) {
		case []any:
			items = x
		case []map[string]any:
			items = make([]any, len(x))
			for i := range x {
				items[i] = x[i]
			}
		default:
			d.mismatch(path, v, t)
			return
		}
		if len(items) == 0 {
			// An empty array and an absent key mean the same: none.
			fv.Set(reflect.Zero(t))
			return
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			ev := s.Index(i)
			if df, ok := ev.Addr().Interface().(defaulter); ok {
				df.setDefaults()
			}
			d.value(fmt.Sprintf("%s[%d]", path, i), item, ev)
		}
		fv.Set(s)
	case reflect.Pointer:
		m, ok := v.(map[string]any)
		if !ok || t.Elem().Kind() != reflect.Struct {
			d.mismatch(path, v, t)
			return
		}
		nv := reflect.New(t.Elem())
		if df, ok := nv.Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.table(path, m, nv.Elem())
		fv.Set(nv)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			d.mismatch(path, v, t)
			return
		}
		d.table(path, m, fv)
	default:
		// Only reachable through a schema bug; say so rather than panic.
		d.bad[path] = true
		d.addf(path, "internal: no decoder for %s", t)
	}
}

// text decodes a string into an address, prefix, duration or secret.
func (d *decoder) text(path, s string, fv reflect.Value) {
	fail := func(format string, args ...any) {
		d.bad[path] = true
		d.addf(path, format, args...)
	}
	switch fv.Type() {
	case addrType:
		if s == "" {
			fail("empty address (leave the key out if it is optional)")
			return
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			if _, perr := netip.ParsePrefix(s); perr == nil {
				fail("%q is a prefix; want a single address, without /length", s)
				return
			}
			fail("%q is not an IP address", s)
			return
		}
		if a.Zone() != "" {
			fail("%q has a zone; no setting here is link-scoped", s)
			return
		}
		fv.Set(reflect.ValueOf(a))
	case prefixType:
		if s == "" {
			fail("empty prefix (leave the key out if it is optional)")
			return
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				fail("%q has no prefix length; write e.g. %s/%d", s, a.WithZone(""), a.BitLen())
				return
			}
			fail("%q is not a prefix (want address/length, e.g. \"2001:db8::/64\")", s)
			return
		}
		// A prefix with host bits set is a typo or an address pasted
		// where a prefix belongs; guessing which would be wrong.
		if p != p.Masked() {
			fail("%s has bits set beyond its length; did you mean %s?", p, p.Masked())
			return
		}
		fv.Set(reflect.ValueOf(p))
	default:
		u := fv.Addr().Interface().(encoding.TextUnmarshaler)
		if err := u.UnmarshalText([]byte(s)); err != nil {
			fail("%v", err)
		}
	}
}

// suggest returns the known key closest to k (case-insensitive equality or
// an edit distance of at most 2), or "".
func suggest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if strings.EqualFold(c, k) {
			return c
		}
		if dd := editDistance(k, c); dd < bestD {
			best, bestD = c, dd
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, by bytes (keys
// are ASCII snake_case).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// load reads a file and hands it to parse: the os error for a file that
// cannot be read, else what parse says.
func load[T any](path string, parse func([]byte) (*T, error)) (*T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(data)
}

// parse decodes data over the defaults in c, runs validate when the TOML
// itself decoded, and returns the config or every problem found.
func parse[T any](data []byte, c T, validate func(*decoder, *T)) (*T, error) {
	d, parsed := decodeFile(data, &c)
	if parsed {
		validate(d, &c)
		d.sortProblems(reflect.TypeFor[T]())
	}
	if len(d.problems) > 0 {
		return nil, d.problems
	}
	return &c, nil
}
