package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/su/evidence"
)

const evidenceUsage = `evidence verify [--process FILE] FILE

Verifies equivocation evidence offline: FILE holds one evidence object, or the JSON list
GET /su/evidence answers ("-" reads standard input). Each must hold two validly signed
assignments of the same process and nonce with different ids, both signed by schedulers the
process's Scheduler tags name. Evidence without its process item needs --process, the raw
Process item. Exit status 0 when every evidence is valid, 1 otherwise.`

func evidenceCommand() command {
	return command{name: "evidence", summary: "verify equivocation evidence offline", run: runEvidence}
}

func runEvidence(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, evidenceUsage, args, stdout, stderr,
		subcommand{"verify", runEvidenceVerify},
	)
}

func runEvidenceVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("evidence verify", evidenceUsage, stderr)
	processFile := fs.String("process", "", "the raw Process item, for evidence that does not carry it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"exactly one FILE is required"}
	}
	var process *dataitem.Item
	if *processFile != "" {
		raw, err := readInput(*processFile)
		if err != nil {
			return err
		}
		if process, err = dataitem.Parse(raw); err != nil {
			return fmt.Errorf("process item %s: %w", *processFile, err)
		}
	}
	data, err := readInput(fs.Arg(0))
	if err != nil {
		return err
	}
	list, err := decodeEvidence(data)
	if err != nil {
		return fmt.Errorf("%s: invalid: %w", fs.Arg(0), err)
	}
	allValid := true
	for i, w := range list {
		what := fs.Arg(0)
		if len(list) > 1 {
			what = fmt.Sprintf("%s[%d]", fs.Arg(0), i)
		}
		e, err := evidence.FromAPI(w)
		if err == nil {
			err = e.Verify(process)
		}
		var line string
		if err != nil {
			allValid = false
			line = fmt.Sprintf("%s: invalid: %v", what, err)
		} else {
			a, s := e.Assignments(), e.Signers()
			line = fmt.Sprintf("%s: valid: process %s nonce %d assigned twice: %s signed by %s, %s signed by %s",
				what, e.Process(), e.Nonce(), a[0].ID(), s[0], a[1].ID(), s[1])
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

// decodeEvidence reads one aoapi.Evidence or a list of them.
func decodeEvidence(data []byte) ([]aoapi.Evidence, error) {
	if len(data) > evidence.MaxJSONBytes*maxEvidenceList {
		return nil, fmt.Errorf("%d bytes is more than any evidence list", len(data))
	}
	var list []aoapi.Evidence
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("not a JSON list of evidence: %w", err)
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("the list holds no evidence")
		}
		return list, nil
	}
	var one aoapi.Evidence
	if err := json.Unmarshal(data, &one); err != nil {
		return nil, fmt.Errorf("not evidence JSON: %w", err)
	}
	return []aoapi.Evidence{one}, nil
}

// maxEvidenceList is the most records GET /su/evidence answers at once.
const maxEvidenceList = 1000
