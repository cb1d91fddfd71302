package install

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// marshalYAML returns what sigs.k8s.io/yaml.Marshal returns for obj, which
// is the format of every manifest meshctl writes (kubectl's too). That
// function encodes the object as JSON, parses the JSON back with yaml.v2
// and encodes the result with yaml.v2: for an object that the JSON trip
// leaves unchanged in yaml.v2's eyes, the trip is redundant, and it was
// most of the cost of writing a manifest (yaml.v2 reads one-line JSON
// slowly). Other objects take the trip, with one correction: JSON leaves
// DEL, the C1 controls, U+FEFF, U+FFFE and U+FFFF raw in its strings, and
// yaml.v2 reads a raw NEL (U+0085) as a line break and folds it into a
// space, so sigs.k8s.io/yaml loses it (FuzzMarshalYAML found "\u0085"
// written as ' '); escaped, yaml.v2 reads them as written and writes them
// escaped. TestMarshalYAMLMatchesSigsYAML holds the output equal to
// sigs.k8s.io/yaml's wherever that reads back as the object.
func marshalYAML(obj map[string]any) ([]byte, error) {
	if sameThroughJSON(obj) {
		return yamlv2.Marshal(obj)
	}
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("error marshaling into JSON: %w", err)
	}
	return yaml.JSONToYAML(escapeUnreadable(j))
}

// escapeUnreadable writes as \u escapes the characters of JSON text that
// yaml.v2 does not read back raw (see readableRunes); JSON's structure is
// ASCII, so they can only be inside strings, where the escape means the same.
func escapeUnreadable(j []byte) []byte {
	var out []byte
	for i := 0; i < len(j); {
		r, n := utf8.DecodeRune(j[i:])
		if !rawReadable(r) {
			if out == nil {
				out = append(make([]byte, 0, len(j)+16), j[:i]...)
			}
			out = fmt.Appendf(out, `\u%04x`, r)
		} else if out != nil {
			out = append(out, j[i:i+n]...)
		}
		i += n
	}
	if out == nil {
		return j
	}
	return out
}

// sameThroughJSON reports whether yaml.v2 encodes v exactly as it encodes
// what yaml.v2 decodes from json.Marshal(v). Maps and lists keep their
// content (yaml.v2 sorts keys either way); strings, booleans, nil and int64
// come back equal; anything else may not, and is refused:
//   - an integral float64 comes back as an integer (JSON writes it without a
//     fraction), which yaml.v2 writes without an exponent;
//   - a nil map or list becomes null, which yaml.v2 writes as {} or [] when
//     given the typed nil;
//   - a string JSON changes (invalid UTF-8) or whose raw characters yaml.v2's
//     reader refuses or reads as a line break (DEL, C1 controls such as
//     NEL, U+FFFE, U+FFFF; JSON escapes only the C0 controls and
//     U+2028/U+2029) does not come back.
func sameThroughJSON(v any) bool {
	switch t := v.(type) {
	case nil, bool, int64:
		return true
	case string:
		return readableString(t)
	case float64:
		return t != math.Trunc(t) && !math.IsInf(t, 0) && !math.IsNaN(t)
	case map[string]any:
		if t == nil {
			return false
		}
		for k, x := range t {
			if !readableString(k) || !sameThroughJSON(x) {
				return false
			}
		}
		return true
	case []any:
		if t == nil {
			return false
		}
		for _, x := range t {
			if !sameThroughJSON(x) {
				return false
			}
		}
		return true
	}
	return false
}

// readableString reports whether s survives json.Marshal and yaml.v2's
// reader unchanged: valid UTF-8 whose characters JSON either escapes or
// yaml.v2 accepts raw.
func readableString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == 0x7f {
			return readableRunes(s[i:])
		}
	}
	return true
}

func readableRunes(s string) bool {
	for _, r := range s {
		// Invalid UTF-8 (JSON replaces it); a literal U+FFFD is refused
		// too, which only costs the slow path.
		if r == utf8.RuneError || !rawReadable(r) {
			return false
		}
	}
	return true
}

// rawReadable reports whether yaml.v2 reads r back as itself when it stands
// raw in a string: not DEL, the C1 controls (NEL among them is a line
// break), surrogates, U+FFFE or U+FFFF, nor U+FEFF (a byte order mark is
// skipped at the start of a line).
func rawReadable(r rune) bool {
	switch {
	case r < 0x7f:
	case r == 0xfeff:
		return false
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= utf8.MaxRune:
	default:
		return false
	}
	return true
}
