package inject

import (
	"bytes"
	"encoding/json"
)

var jsonUnmarshal = json.Unmarshal

// marshalJSON is json.Marshal without HTML escaping, so that "<" and "&" in
// commands and annotations are written as themselves.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
