package conf

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
)

// loaders maps an example file's name prefix to its loader.
var loaders = map[string]func([]byte) (any, error){
	"had": func(b []byte) (any, error) { return ParseHA(b) },
	"mnd": func(b []byte) (any, error) { return ParseMN(b) },
	"cnd": func(b []byte) (any, error) { return ParseCN(b) },
}

// TestExamples loads every examples/*.toml with the loader its name says.
// They are what users copy, so they must pass -check.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		base := filepath.Base(f)
		prefix := base[:3]
		load, ok := loaders[prefix]
		if !ok {
			t.Errorf("%s: name does not start with had, mnd or cnd; which daemon is it for?", f)
			continue
		}
		seen[prefix] = true
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := load(data); err != nil {
				t.Errorf("%s does not load:\n%v", f, err)
			}
		})
	}
	for p := range loaders {
		if !seen[p] {
			t.Errorf("no examples/%s*.toml", p)
		}
	}
}

// TestExamplesDocumentEveryKey: the full example of each daemon lists
// every key of the schema, set or commented out with its default, so the
// examples are the reference a user reads.
func TestExamplesDocumentEveryKey(t *testing.T) {
	for file, typ := range map[string]reflect.Type{
		"../examples/had.toml": reflect.TypeFor[HA](),
		"../examples/mnd.toml": reflect.TypeFor[MN](),
		"../examples/cnd.toml": reflect.TypeFor[CN](),
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if file == "../examples/had.toml" {
			// [uplink] is documented in its own example.
			up, err := os.ReadFile("../examples/had-uplink.toml")
			if err != nil {
				t.Fatal(err)
			}
			text += string(up)
		}
		documented := documentedKeys(text)
		for _, k := range schemaKeys(typ, "") {
			if !documented[k] {
				t.Errorf("%s does not document %s", file, strings.TrimSuffix(k, "/"))
			}
		}
	}
}

var (
	headerRE = regexp.MustCompile(`^\[\[?\s*([a-z0-9_]+)\s*\]\]?`)
	keyRE    = regexp.MustCompile(`^#?\s*([a-z0-9_]+)\s*=`)
)

// documentedKeys returns the key paths an example file sets or shows
// commented out, each under the table it appears in; tables end in "/".
func documentedKeys(text string) map[string]bool {
	keys := map[string]bool{}
	section := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if m := headerRE.FindStringSubmatch(line); m != nil {
			section = m[1]
			keys[section+"/"] = true
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			keys[join(section, m[1])] = true
		}
	}
	return keys
}

// schemaKeys lists the key paths of a schema type; tables end in "/".
func schemaKeys(t reflect.Type, path string) []string {
	var out []string
	for _, f := range schemaFields(t) {
		ft := t.Field(f.index).Type
		for ft.Kind() == reflect.Pointer || (ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && !isLeaf(ft.Elem())) {
			ft = ft.Elem()
		}
		p := join(path, f.key)
		if ft.Kind() == reflect.Struct && !isLeaf(ft) {
			out = append(out, p+"/")
			out = append(out, schemaKeys(ft, p)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// TestRoundTrip: a loaded configuration, encoded back to TOML, loads to
// the same configuration. It holds for the examples and proves the toml
// tags of the exported structs are the keys the loader reads.
func TestRoundTrip(t *testing.T) {
	for _, f := range []string{"had.toml", "had-uplink.toml", "mnd.toml", "cnd.toml"} {
		data, err := os.ReadFile("../examples/" + f)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, f[:3], data)
	}
}

// roundTrip asserts parse -> encode -> parse symmetry for data, if the
// first parse accepts it.
func roundTrip(t *testing.T, daemon string, data []byte) {
	t.Helper()
	load := loaders[daemon]
	first, err := load(data)
	if err != nil {
		return
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(first); err != nil {
		t.Fatalf("encoding %+v: %v", first, err)
	}
	second, err := load(buf.Bytes())
	if err != nil {
		t.Fatalf("re-loading the encoded configuration:\n%v\n--- encoded:\n%s", err, buf.String())
	}
	if diff := cmp.Diff(first, second, cmpOpts); diff != "" {
		t.Fatalf("round trip changed the configuration (-first +second):\n%s\n--- encoded:\n%s", diff, buf.String())
	}
}

func FuzzParseHA(f *testing.F) { fuzzParse(f, "had") }
func FuzzParseMN(f *testing.F) { fuzzParse(f, "mnd") }
func FuzzParseCN(f *testing.F) { fuzzParse(f, "cnd") }

// fuzzParse: any input gives a configuration or problems, never a panic;
// problems always name something; and an accepted configuration survives
// encode -> parse unchanged.
func fuzzParse(f *testing.F, daemon string) {
	files, _ := filepath.Glob("../examples/" + daemon + "*.toml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := loaders[daemon](data)
		if err != nil {
			ce, ok := err.(Errors)
			if !ok || len(ce) == 0 {
				t.Fatalf("error %v (%T) is not a non-empty conf.Errors", err, err)
			}
			for _, p := range ce {
				if p.Msg == "" {
					t.Fatalf("problem without a message: %+v", p)
				}
			}
			return
		}
		if reflect.ValueOf(cfg).IsNil() {
			t.Fatal("nil configuration without an error")
		}
		roundTrip(t, daemon, data)
	})
}
