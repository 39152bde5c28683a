package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// The CLI's JSON goes through one encoder: no HTML escaping (an aos prompt "aos> " is printed
// as such, not as "aos\u003e "), and raw JSON from a unit is re-indented, not re-escaped.

// printJSON writes v indented, one document per call. A json.RawMessage (a unit's answer,
// alone or inside v) must be valid JSON.
func printJSON(w io.Writer, v any) error {
	return encodeJSON(w, v, "  ")
}

// printJSONLine writes v on one line: for outputs that stream one object per input.
func printJSONLine(w io.Writer, v any) error {
	return encodeJSON(w, v, "")
}

func encodeJSON(w io.Writer, v any, indent string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		if _, raw := v.(json.RawMessage); raw {
			return fmt.Errorf("the node answered with invalid JSON: %w", err)
		}
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// printID writes just an id and a newline: the --quiet output that scripts capture
// (pid=$(aonode spawn ... --quiet)).
func printID(w io.Writer, id string) error {
	_, err := fmt.Fprintln(w, id)
	return err
}
