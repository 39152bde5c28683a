package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aonode/aonode/cu/memhash"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/node"
	"github.com/aonode/aonode/p2p"
)

const attestUsage = `attest <subcommand> [flags]

subcommands:
  memroot   print the Memory-Root (attestation format 2) and SHA-256 of a memory file
  verify    compare the results and attestations of one message on several CUs

Run 'aonode attest <subcommand> --help' for its flags.`

func attestCommand() command {
	return command{name: "attest", summary: "check CU attestations and memory roots", run: runAttest}
}

func runAttest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, attestUsage, args, stdout, stderr,
		subcommand{"memroot", noContext(runAttestMemroot)},
		subcommand{"verify", runAttestVerify},
	)
}

const attestMemrootUsage = `attest memroot FILE

Prints the Memory-Root of the memory in FILE ("-": standard input), as a format-2
attestation carries it (cu/memhash: RFC 6962 Merkle root over 4 KiB pages), and its SHA-256
(format 1's Memory-SHA256). Save the memory with
  curl -o mem.bin {node}/cu/state/{process}
and compare with the attestation of the slot in its Last-Ordinate header.`

func runAttestMemroot(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("attest memroot", attestMemrootUsage, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"one memory file is required"}
	}
	mem, err := readInput(fs.Arg(0))
	if err != nil {
		return err
	}
	root := memhash.Root(mem)
	sum := sha256.Sum256(mem)
	fmt.Fprintf(stdout, "Memory-Root    %s\nMemory-SHA256  %s\nbytes          %d\n", hex.EncodeToString(root[:]), hex.EncodeToString(sum[:]), len(mem))
	return nil
}

const attestVerifyUsage = `attest verify --process ID --message ID --node URL [--node URL...]

Fetches the result of the message and its attestation from each node's CU
(GET {node}/cu/result/{message}, GET {node}/cu/attestation/{message}), verifies each
attestation's signature, that it names the process and message, and that its Result-SHA256
is the SHA-256 of the result that node served, then prints who agrees. Exit status 1 when a
node fails, an attestation does not verify, or the nodes disagree.`

// verifyRow is what one node said.
type verifyRow struct {
	node, cu, result, memory, status string
	ok                               bool
}

func runAttestVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("attest verify", attestVerifyUsage, stderr)
	var nodes stringList
	fs.Var(&nodes, "node", "base URL of a node (repeat for each node)")
	process := fs.String("process", "", "process id")
	message := fs.String("message", "", "message id")
	timeout := fs.Duration("timeout", 30*time.Second, "timeout of each HTTP request")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkID("process", *process); err != nil {
		return err
	}
	if err := checkID("message", *message); err != nil {
		return err
	}
	if len(nodes) == 0 {
		return usageError{"at least one --node is required"}
	}
	var rows []verifyRow
	for _, n := range nodes {
		cf := clientFlags{node: n, timeout: *timeout}
		nc, err := cf.client()
		if err != nil {
			return err
		}
		rows = append(rows, verifyOne(ctx, nc, n, *process, *message))
	}
	agree := true
	for _, r := range rows {
		if !r.ok || r.result != rows[0].result || r.memory != rows[0].memory {
			agree = false
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCU\tRESULT-SHA256\tMEMORY\tSTATUS")
	for _, r := range rows {
		status := r.status
		if r.ok && (r.result != rows[0].result || r.memory != rows[0].memory) {
			status = "DISAGREES with " + rows[0].node
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.node, r.cu, short(r.result), short(r.memory), status)
	}
	_ = tw.Flush()
	if !agree {
		fmt.Fprintln(stdout, "DISAGREEMENT")
		return errSilentFailure
	}
	fmt.Fprintf(stdout, "all %d agree\n", len(rows))
	return nil
}

// verifyOne fetches and checks one node's result and attestation.
func verifyOne(ctx context.Context, nc *nodeClient, base, pid, mid string) verifyRow {
	row, _ := verifyOneBody(ctx, nc, base, pid, mid)
	return row
}

// verifyOneBody is verifyOne that also returns the result body.
func verifyOneBody(ctx context.Context, nc *nodeClient, base, pid, mid string) (verifyRow, []byte) {
	row := verifyRow{node: base}
	body, err := nc.cu().ResultBytes(ctx, pid, mid, true)
	if err != nil {
		row.status = "result: " + replyError(err).Error()
		return row, nil
	}
	raw, err := nc.cu().Attestation(ctx, pid, mid)
	if err != nil {
		row.status = "attestation: " + replyError(err).Error()
		return row, nil
	}
	a, err := aoapi.ParseAttestation(raw)
	if err != nil {
		row.status = err.Error()
		return row, nil
	}
	row.cu, row.result, row.memory = a.Signer, hex.EncodeToString(a.ResultSHA256), hex.EncodeToString(a.Memory)
	sum := sha256.Sum256(body)
	switch {
	case a.Process != pid || a.Message != mid:
		row.status = "attestation names another process or message"
	case !bytes.Equal(sum[:], a.ResultSHA256):
		row.status = "served result does not hash to Result-SHA256"
	default:
		row.ok, row.status = true, "ok"
	}
	return row, body
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	if h == "" {
		return "-"
	}
	return h
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// resultQuorum prints the result of message if quorum distinct CUs the node knows attest it.
func resultQuorum(ctx context.Context, nc *nodeClient, cf *clientFlags, pid, mid string, quorum int, stdout io.Writer) error {
	urls := []string{nc.base}
	var peers node.PeersReply
	if b, err := nc.api.Do(ctx, http.MethodGet, nc.base, "/peers", nil, "", nil); err == nil && json.Unmarshal(b, &peers) == nil {
		for _, p := range peers.Peers {
			if slices.Contains(p.Roles, p2p.RoleCU) && p.URL != "" {
				urls = append(urls, strings.TrimRight(p.URL, "/"))
			}
		}
	}
	slices.Sort(urls)
	urls = slices.Compact(urls)
	var rows []verifyRow
	bodies := map[string][]byte{}
	votes := map[string]map[string]bool{}
	for _, u := range urls {
		c := clientFlags{node: u, timeout: cf.timeout}
		pc, err := c.client()
		if err != nil {
			continue
		}
		row, body := verifyOneBody(ctx, pc, u, pid, mid)
		rows = append(rows, row)
		if !row.ok {
			continue
		}
		if votes[row.result] == nil {
			votes[row.result] = map[string]bool{}
		}
		votes[row.result][row.cu] = true
		bodies[row.result] = body
	}
	for h, cus := range votes {
		if len(cus) >= quorum {
			return printJSON(stdout, json.RawMessage(bodies[h]))
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCU\tRESULT-SHA256\tSTATUS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.node, r.cu, short(r.result), r.status)
	}
	_ = tw.Flush()
	return fmt.Errorf("no result is attested by %d distinct CUs (%d asked)", quorum, len(rows))
}
