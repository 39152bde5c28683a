package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/utf8lossy"
)

// stdin is where "-" reads from; tests replace it.
var stdin io.Reader = os.Stdin

// maxInputBytes bounds what the item commands read into memory from one file.
const maxInputBytes = 1 << 30

const itemUsage = `item <subcommand> [flags]

subcommands:
  sign      sign a new data item with a key file
  inspect   print a data item as JSON
  verify    verify data items or bundles

Run 'aonode item <subcommand> --help' for its flags.`

func itemCommand() command {
	return command{name: "item", summary: "sign, inspect and verify ANS-104 data items", run: runItem}
}

func runItem(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, itemUsage, args, stdout, stderr,
		subcommand{"sign", noContext(runItemSign)},
		subcommand{"inspect", noContext(runItemInspect)},
		subcommand{"verify", runItemVerify},
	)
}

// readInput reads a file, or standard input for "-", up to maxInputBytes.
func readInput(name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxInputBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxInputBytes)
	}
	return b, nil
}

// tagFlags collects repeated --tag Name=Value flags.
type tagFlags []dataitem.Tag

func (t *tagFlags) String() string { return "" }

func (t *tagFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("tag %q is not Name=Value", s)
	}
	if name == "" {
		return fmt.Errorf("tag %q has an empty name", s)
	}
	*t = append(*t, dataitem.Tag{Name: name, Value: value})
	return nil
}

const itemSignUsage = `item sign --key FILE [--target ID] [--anchor A] [--tag Name=Value]... [--data-file F | --data S] --out FILE

Builds and signs a data item with the key file (see 'aonode keygen --help';
the key's kind selects the signature type) and writes its raw bytes to FILE
("-" for standard output). Prints the item id when writing to a file.
  --target   the target id: base64url of 32 bytes (43 characters)
  --anchor   32 characters stored as they are (what aoconnect sends), or
             base64url of 32 raw bytes (43 characters)
  --tag      a tag; repeat for more, in order; split at the first "="
Type-1 (Arweave) items are signed with RSA-PSS and a 32-byte salt.`

func runItemSign(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("item sign", itemSignUsage, stderr)
	keyFile := fs.String("key", "", "key file (JWK)")
	target := fs.String("target", "", "target id (base64url, 43 characters)")
	anchor := fs.String("anchor", "", "anchor: 32 characters, or base64url of 32 bytes")
	var tags tagFlags
	fs.Var(&tags, "tag", "tag as Name=Value (repeatable)")
	dataFile := fs.String("data-file", "", `file holding the data ("-" for standard input)`)
	data := fs.String("data", "", "the data as a string")
	out := fs.String("out", "", `file to write the item to ("-" for standard output)`)
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if *keyFile == "" {
		return usageError{"--key FILE is required"}
	}
	if *out == "" {
		return usageError{"--out FILE is required"}
	}
	dataSet := false
	fs.Visit(func(f *flag.Flag) { dataSet = dataSet || f.Name == "data" })
	if dataSet && *dataFile != "" {
		return usageError{"give --data or --data-file, not both"}
	}
	var f dataitem.Fields
	if *target != "" {
		id, err := dataitem.DecodeID(*target)
		if err != nil {
			return usageError{fmt.Sprintf("--target: %v", err)}
		}
		f.Target = id[:]
	}
	if *anchor != "" {
		a, err := parseAnchor(*anchor)
		if err != nil {
			return usageError{err.Error()}
		}
		f.Anchor = a
	}
	f.Tags = tags
	f.Data = []byte(*data)
	if *dataFile != "" {
		b, err := readInput(*dataFile)
		if err != nil {
			return err
		}
		f.Data = b
	}
	keyBytes, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("reading key: %w", err)
	}
	signer, err := dataitem.ParseKey(keyBytes)
	if err != nil {
		return fmt.Errorf("key file %s: %w", *keyFile, err)
	}
	it, err := dataitem.Sign(signer, f)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := stdout.Write(it.Raw())
		return err
	}
	if err := os.WriteFile(*out, it.Raw(), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, it.ID())
	return nil
}

// parseAnchor accepts 32 characters taken as they are (aoconnect's anchors)
// or 43 characters of base64url for 32 raw bytes; the lengths never overlap.
func parseAnchor(s string) ([]byte, error) {
	switch len(s) {
	case 32:
		return []byte(s), nil
	case 43:
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, fmt.Errorf("--anchor must be 32 characters or base64url of 32 bytes (43 characters), got %d characters", len(s))
}

const itemInspectUsage = `item inspect FILE

Parses the raw data item in FILE ("-" for standard input) and prints one JSON
object: id, signatureType, owner, address, target, anchor (base64url; "" when
absent), tags ([{name, value}]; invalid UTF-8 shows as U+FFFD), dataSize,
ethAddress (types 3 and 7) and signatureValid. A structurally invalid item is
an error; a bad signature is reported as signatureValid false.`

type inspectTag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type inspectOutput struct {
	ID             string       `json:"id"`
	SignatureType  int          `json:"signatureType"`
	Owner          string       `json:"owner"`
	Address        string       `json:"address"`
	Target         string       `json:"target"`
	Anchor         string       `json:"anchor"`
	Tags           []inspectTag `json:"tags"`
	DataSize       int          `json:"dataSize"`
	EthAddress     string       `json:"ethAddress,omitempty"`
	SignatureValid bool         `json:"signatureValid"`
}

func runItemInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("item inspect", itemInspectUsage, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"exactly one FILE is required"}
	}
	raw, err := readInput(fs.Arg(0))
	if err != nil {
		return err
	}
	it, err := dataitem.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	o := inspectOutput{
		ID:             it.ID(),
		SignatureType:  int(it.SignatureType),
		Owner:          dataitem.EncodeID(it.Owner),
		Address:        it.Address(),
		Target:         dataitem.EncodeID(it.Target),
		Anchor:         dataitem.EncodeID(it.Anchor),
		Tags:           make([]inspectTag, len(it.Tags)),
		DataSize:       len(it.Data),
		EthAddress:     it.EthAddress(),
		SignatureValid: it.Verify() == nil,
	}
	for i, t := range it.Tags {
		o.Tags[i] = inspectTag{Name: utf8lossy.String(t.Name), Value: utf8lossy.String(t.Value)}
	}
	return printJSON(stdout, o)
}

const itemVerifyUsage = `item verify [--json] [--bundle] FILE...

Verifies each FILE ("-" for standard input) as one raw data item, or with
--bundle as an ANS-104 binary bundle (every item and every header id). Exit
status 0 only if every input is valid. Without --json one line per input:
"FILE: valid ID" or "FILE: invalid: CLASS: message". With --json one JSON
object per line: {"file","id","valid","error","message"}, where error is the
error class of the ANS-104 vectors (too_short, truncated, invalid_signature,
bundle_id_mismatch, ...; read_error when the file cannot be read) or null, and
id is the item id when the item parses ("" for bundles, with "items" instead).`

type verifyResult struct {
	File    string  `json:"file"`
	ID      string  `json:"id"`
	Valid   bool    `json:"valid"`
	Error   *string `json:"error"`
	Message string  `json:"message,omitempty"`
	Items   *int    `json:"items,omitempty"`
}

func runItemVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("item verify", itemVerifyUsage, stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per input")
	bundle := fs.Bool("bundle", false, "inputs are bundles, not single items")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{"at least one FILE is required"}
	}
	allValid := true
	for _, name := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := verifyInput(name, *bundle)
		allValid = allValid && r.Valid
		if *asJSON {
			if err := printJSONLine(stdout, r); err != nil {
				return err
			}
			continue
		}
		var line string
		switch {
		case r.Valid && r.Items != nil:
			line = fmt.Sprintf("%s: valid bundle of %d items", name, *r.Items)
		case r.Valid:
			line = fmt.Sprintf("%s: valid %s", name, r.ID)
		default:
			line = fmt.Sprintf("%s: invalid: %s: %s", name, *r.Error, r.Message)
		}
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			return err
		}
	}
	if !allValid {
		return errSilentFailure
	}
	return nil
}

func verifyInput(name string, bundle bool) verifyResult {
	r := verifyResult{File: name}
	fail := func(class string, err error) verifyResult {
		r.Error = &class
		r.Message = err.Error()
		return r
	}
	raw, err := readInput(name)
	if err != nil {
		return fail("read_error", err)
	}
	if bundle {
		items, err := dataitem.ParseBundle(raw)
		if err != nil {
			return fail(dataitem.ErrorClass(err), err)
		}
		n := len(items)
		r.Items = &n
		r.Valid = true
		return r
	}
	it, err := dataitem.Parse(raw)
	if err != nil {
		return fail(dataitem.ErrorClass(err), err)
	}
	r.ID = it.ID()
	if err := it.Verify(); err != nil {
		return fail(dataitem.ErrorClass(err), err)
	}
	r.Valid = true
	return r
}
