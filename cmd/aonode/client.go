package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
)

// DefaultNodeURL is the node the client commands talk to without --node: the HTTP address a
// dev node listens on.
const DefaultNodeURL = "http://127.0.0.1:8734"

// maxReplyBytes bounds what the client reads of one HTTP reply.
const maxReplyBytes = 64 << 20

// clientFlags are the flags every client command shares.
type clientFlags struct {
	node    string
	timeout time.Duration
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	fs.StringVar(&c.node, "node", DefaultNodeURL, "base URL of the node (its /mu, /cu, /su and gateway routes are used)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "timeout of each HTTP request")
	return c
}

// nodeClient speaks to one node's units (/su, /cu, /mu) and gateway (the root).
type nodeClient struct {
	base string
	api  *aoapi.Client
}

func (c *clientFlags) client() (*nodeClient, error) {
	u, err := url.Parse(c.node)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Sprintf("--node %q must be an absolute http(s) URL", c.node)}
	}
	if c.timeout <= 0 {
		return nil, usageError{"--timeout must be positive"}
	}
	base := strings.TrimRight(c.node, "/")
	return &nodeClient{base: base, api: &aoapi.Client{HTTP: &http.Client{Timeout: c.timeout}, MaxResponseBytes: maxReplyBytes}}, nil
}

func (c *nodeClient) su() aoapi.SU { return c.api.SU(c.base + "/su") }
func (c *nodeClient) cu() aoapi.CU { return c.api.CU(c.base + "/cu") }
func (c *nodeClient) mu() aoapi.MU { return c.api.MU(c.base + "/mu") }

// replyError reports a failed call as aoconnect does: "<status>: <body>" for a refusal.
func replyError(err error) error {
	var e *aoapi.Error
	if errors.As(err, &e) && errors.Is(err, aoapi.ErrStatus) {
		return fmt.Errorf("%d: %s", e.Status, strings.TrimSpace(string(e.Body)))
	}
	return err
}

// postItem sends a signed item to the node's MU, as aoconnect does.
func (c *nodeClient) postItem(ctx context.Context, it *dataitem.Item) error {
	if _, err := c.mu().Post(ctx, it.Raw()); err != nil {
		return fmt.Errorf("sending %s to the MU: %w", it.ID(), replyError(err))
	}
	return nil
}

// schedulerAddress is the address of the node's SU (GET /su/).
func (c *nodeClient) schedulerAddress(ctx context.Context) (string, error) {
	info, err := c.su().Info(ctx)
	if err != nil {
		return "", fmt.Errorf("asking the node's SU for its address (give --scheduler to skip): %w", replyError(err))
	}
	if info.Address == "" {
		return "", errors.New("the node's SU answered GET /su/ without an address")
	}
	return info.Address, nil
}

// printJSON writes v (or raw JSON) indented, one document per call.
func printJSON(w io.Writer, v any) error {
	var b []byte
	var err error
	if raw, ok := v.(json.RawMessage); ok {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("the node answered with invalid JSON: %w", err)
		}
		b = buf.Bytes()
	} else if b, err = json.MarshalIndent(v, "", "  "); err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func loadSigner(file string) (dataitem.Signer, error) {
	if file == "" {
		return nil, usageError{"--key FILE is required"}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	s, err := dataitem.ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", file, err)
	}
	return s, nil
}

func checkID(flagName, v string) error {
	if v == "" {
		return usageError{fmt.Sprintf("--%s ID is required", flagName)}
	}
	if _, err := dataitem.DecodeID(v); err != nil {
		return usageError{fmt.Sprintf("--%s: %v", flagName, err)}
	}
	return nil
}

// dataFlags are --data and --data-file.
type dataFlags struct {
	data, file string
	set        bool
}

func addDataFlags(fs *flag.FlagSet) *dataFlags {
	d := &dataFlags{}
	fs.Func("data", "the data as a string", func(s string) error { d.data, d.set = s, true; return nil })
	fs.StringVar(&d.file, "data-file", "", `file holding the data ("-" for standard input)`)
	return d
}

// read returns the data, or nil when none was given.
func (d *dataFlags) read() ([]byte, error) {
	if d.set && d.file != "" {
		return nil, usageError{"give --data or --data-file, not both"}
	}
	if d.file != "" {
		return readInput(d.file)
	}
	if d.set {
		return []byte(d.data), nil
	}
	return nil, nil
}

// aoTags builds the tags of an item as aoconnect does (ao-protocol.md §6): the user's tags
// without the protocol tags it sets itself, then SDK and, when there is no data,
// Content-Type, then the protocol tags. Variant keeps the user's value when given.
func aoTags(user []dataitem.Tag, hasData bool, contentTypeFirst bool, protocol []dataitem.Tag, drop ...string) []dataitem.Tag {
	variant := "ao.TN.1"
	var out []dataitem.Tag
	for _, t := range user {
		if t.Name == "Variant" {
			variant = t.Value
			continue
		}
		skip := t.Name == "Data-Protocol" || t.Name == "Type"
		for _, d := range drop {
			skip = skip || t.Name == d
		}
		if !skip {
			out = append(out, t)
		}
	}
	sdk := dataitem.Tag{Name: "SDK", Value: "aoconnect"}
	ct := dataitem.Tag{Name: "Content-Type", Value: "text/plain"}
	switch {
	case hasData:
		out = append(out, sdk)
	case contentTypeFirst:
		out = append(out, ct, sdk)
	default:
		out = append(out, sdk, ct)
	}
	out = append(out, dataitem.Tag{Name: "Data-Protocol", Value: "ao"}, dataitem.Tag{Name: "Variant", Value: variant})
	return append(out, protocol...)
}

// itemData is aoconnect's data default: a single space when there is none.
func itemData(d []byte) []byte {
	if len(d) == 0 {
		return []byte(" ")
	}
	return d
}

// ---- spawn

const spawnUsage = `spawn --module ID [--scheduler ADDR] [--tag Name=Value]... [--data S | --data-file F] --key FILE [--node URL]

Spawns a process as aoconnect's spawn() does: checks the module through the
node's gateway (GraphQL: Data-Protocol ao, Type Module, Module-Format,
Input-Encoding, Output-Encoding), signs a Type Process item (tags: yours, then
Content-Type text/plain when there is no data, SDK aoconnect, Data-Protocol ao,
Variant ao.TN.1, Type Process, Module, Scheduler, Timestamp) and posts it to
the node's MU. --scheduler defaults to the address of the node's SU.
Prints {"id", "process", "module", "scheduler"} as JSON.`

func spawnCommand() command {
	return command{name: "spawn", summary: "spawn a process on a node (as aoconnect does)", run: runSpawn}
}

// moduleQuery is aoconnect's look-up of the module before a spawn.
const moduleQuery = `query GetTransactions ($transactionIds: [ID!]!) {
  transactions(ids: $transactionIds) {
    edges { node { owner { address } tags { name value } block { id height timestamp } } }
  }
}`

func runSpawn(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("spawn", spawnUsage, stderr)
	cf := addClientFlags(fs)
	keyFile := fs.String("key", "", "key file (JWK) that signs the process")
	module := fs.String("module", "", "module id")
	scheduler := fs.String("scheduler", "", "scheduler address (default: the node's SU)")
	var tags tagFlags
	fs.Var(&tags, "tag", "tag as Name=Value (repeatable)")
	df := addDataFlags(fs)
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkID("module", *module); err != nil {
		return err
	}
	nc, err := cf.client()
	if err != nil {
		return err
	}
	data, err := df.read()
	if err != nil {
		return err
	}
	signer, err := loadSigner(*keyFile)
	if err != nil {
		return err
	}
	if err := nc.checkModule(ctx, *module); err != nil {
		return err
	}
	if *scheduler == "" {
		if *scheduler, err = nc.schedulerAddress(ctx); err != nil {
			return err
		}
	}
	t := aoTags(tags, len(data) > 0, true, []dataitem.Tag{
		{Name: "Type", Value: "Process"},
		{Name: "Module", Value: *module},
		{Name: "Scheduler", Value: *scheduler},
		{Name: "Timestamp", Value: strconv.FormatInt(time.Now().UnixMilli(), 10)},
	}, "Module", "Scheduler", "Timestamp")
	it, err := dataitem.Sign(signer, dataitem.Fields{Tags: t, Data: itemData(data)})
	if err != nil {
		return err
	}
	if err := nc.postItem(ctx, it); err != nil {
		return err
	}
	return printJSON(stdout, map[string]string{"id": it.ID(), "process": it.ID(), "module": *module, "scheduler": *scheduler})
}

// checkModule runs aoconnect's module check against the node's gateway.
func (c *nodeClient) checkModule(ctx context.Context, id string) error {
	body, err := json.Marshal(map[string]any{"query": moduleQuery, "variables": map[string]any{"transactionIds": []string{id}}})
	if err != nil {
		return err
	}
	b, err := c.api.Do(ctx, http.MethodPost, c.base, "/graphql", nil, "application/json", body)
	if err != nil {
		return fmt.Errorf("looking up module %s: %w", id, replyError(err))
	}
	var r struct {
		Data struct {
			Transactions struct {
				Edges []struct {
					Node struct {
						Tags []struct{ Name, Value string }
					}
				}
			}
		}
		Errors []struct{ Message string }
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("looking up module %s: malformed GraphQL reply: %w", id, err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("looking up module %s: %s", id, r.Errors[0].Message)
	}
	if len(r.Data.Transactions.Edges) == 0 {
		return fmt.Errorf("module %s not found on the node's gateway (publish it with 'aonode module publish')", id)
	}
	have := map[string]string{}
	for _, t := range r.Data.Transactions.Edges[0].Node.Tags {
		if _, dup := have[t.Name]; !dup {
			have[t.Name] = t.Value
		}
	}
	for _, need := range []struct{ name, value string }{
		{"Data-Protocol", "ao"}, {"Type", "Module"}, {"Module-Format", ""}, {"Input-Encoding", ""}, {"Output-Encoding", ""},
	} {
		v, ok := have[need.name]
		if !ok || (need.value != "" && v != need.value) {
			want := "a " + need.name + " tag"
			if need.value != "" {
				want = need.name + ": " + need.value
			}
			return fmt.Errorf("%s is not an ao module: it lacks %s", id, want)
		}
	}
	return nil
}

// ---- send

const sendUsage = `send --process ID [--tag Name=Value]... [--data S | --data-file F] [--anchor A] [--cast | --wait] --key FILE [--node URL]

Sends a message as aoconnect's message() does: signs an item targeting the
process (tags: yours, then SDK aoconnect, Content-Type text/plain when there
is no data, Data-Protocol ao, Variant ao.TN.1, Type Message; data " " when
none) and posts it to the node's MU. Prints {"id", "process"}.
  --cast   adds the tag Cast: true (a message whose result nobody awaits)
  --wait   polls the node's CU until the result is there (up to --wait-timeout)
           and prints {"id", "process", "result"}`

func sendCommand() command {
	return command{name: "send", summary: "send a message to a process (as aoconnect does)", run: runSend}
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("send", sendUsage, stderr)
	cf := addClientFlags(fs)
	keyFile := fs.String("key", "", "key file (JWK) that signs the message")
	process := fs.String("process", "", "target process id")
	anchor := fs.String("anchor", "", "anchor: 32 characters, or base64url of 32 bytes")
	var tags tagFlags
	fs.Var(&tags, "tag", "tag as Name=Value (repeatable)")
	df := addDataFlags(fs)
	cast := fs.Bool("cast", false, "mark the message Cast: true")
	wait := fs.Bool("wait", false, "wait for the result and print it")
	waitTimeout := fs.Duration("wait-timeout", time.Minute, "how long --wait polls for the result")
	pollEvery := fs.Duration("poll", 250*time.Millisecond, "how often --wait asks the CU")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkID("process", *process); err != nil {
		return err
	}
	if *cast && *wait {
		return usageError{"--cast and --wait exclude each other"}
	}
	if *wait && (*waitTimeout <= 0 || *pollEvery <= 0) {
		return usageError{"--wait-timeout and --poll must be positive"}
	}
	nc, err := cf.client()
	if err != nil {
		return err
	}
	data, err := df.read()
	if err != nil {
		return err
	}
	f := dataitem.Fields{Data: itemData(data)}
	pid, _ := dataitem.DecodeID(*process)
	f.Target = pid[:]
	if *anchor != "" {
		if f.Anchor, err = parseAnchor(*anchor); err != nil {
			return usageError{err.Error()}
		}
	}
	user := []dataitem.Tag(tags)
	if *cast {
		user = append(user, dataitem.Tag{Name: "Cast", Value: "true"})
	}
	f.Tags = aoTags(user, len(data) > 0, false, []dataitem.Tag{{Name: "Type", Value: "Message"}})
	signer, err := loadSigner(*keyFile)
	if err != nil {
		return err
	}
	it, err := dataitem.Sign(signer, f)
	if err != nil {
		return err
	}
	if err := nc.postItem(ctx, it); err != nil {
		return err
	}
	out := map[string]any{"id": it.ID(), "process": *process}
	if *wait {
		res, err := nc.waitResult(ctx, it.ID(), *process, *waitTimeout, *pollEvery)
		if err != nil {
			return fmt.Errorf("message %s was sent, but: %w", it.ID(), err)
		}
		out["result"] = res
	}
	return printJSON(stdout, out)
}

// waitResult polls GET /cu/result until the CU has the result, the deadline passes, or the CU
// refuses in a way that asking again cannot change.
func (c *nodeClient) waitResult(ctx context.Context, id, pid string, timeout, every time.Duration) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last error
	for {
		b, err := c.cu().ResultBytes(ctx, pid, id, false)
		status := aoapi.StatusOf(err)
		switch {
		case err == nil:
			return b, nil
		case status == http.StatusAccepted:
			last = fmt.Errorf("CU answered %d", status) // still evaluating
		case retryable(status):
			last = replyError(err)
		default:
			if ctx.Err() == nil {
				return nil, replyError(err)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("no result within %s (last: %v)", timeout, last)
			}
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// retryable: not there yet (404), busy, rate-limited or unavailable, or no reply at all.
func retryable(status int) bool {
	return status == 0 || status == http.StatusNotFound || status == http.StatusTooManyRequests ||
		status == http.StatusServiceUnavailable || status == http.StatusBadGateway || status == http.StatusGatewayTimeout ||
		status == http.StatusInternalServerError
}

// ---- result, results

const resultUsage = `result --message ID --process ID [--node URL]

Prints the CU's result of a message (GET {node}/cu/result/{message}?process-id=)
as aoconnect's result() returns it.`

func resultCommand() command {
	return command{name: "result", summary: "print the result of a message", run: runResult}
}

func runResult(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("result", resultUsage, stderr)
	cf := addClientFlags(fs)
	message := fs.String("message", "", "message id")
	process := fs.String("process", "", "process id")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkID("message", *message); err != nil {
		return err
	}
	if err := checkID("process", *process); err != nil {
		return err
	}
	nc, err := cf.client()
	if err != nil {
		return err
	}
	b, err := nc.cu().ResultBytes(ctx, *process, *message, false)
	var e *aoapi.Error
	if errors.As(err, &e) && e.Status == http.StatusAccepted {
		return fmt.Errorf("the CU is still evaluating (%d): %s", e.Status, strings.TrimSpace(string(e.Body)))
	}
	if err != nil {
		return replyError(err)
	}
	return printJSON(stdout, json.RawMessage(b))
}

const resultsUsage = `results --process ID [--from CURSOR] [--to CURSOR] [--sort ASC|DESC] [--limit N] [--node URL]

Prints the CU's evaluated results of a process (GET {node}/cu/results/{process})
as aoconnect's results() returns them: {"pageInfo", "edges"}.`

func resultsCommand() command {
	return command{name: "results", summary: "print the results of a process", run: runResults}
}

func runResults(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("results", resultsUsage, stderr)
	cf := addClientFlags(fs)
	process := fs.String("process", "", "process id")
	from := fs.String("from", "", "cursor or unix ms to start after")
	to := fs.String("to", "", "cursor or unix ms to end at")
	sortOrder := fs.String("sort", "", "ASC or DESC (the CU's default is ASC)")
	limit := fs.Int("limit", 0, "most results (the CU's default is 25)")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkID("process", *process); err != nil {
		return err
	}
	if *sortOrder != "" && *sortOrder != "ASC" && *sortOrder != "DESC" {
		return usageError{"--sort must be ASC or DESC"}
	}
	if *limit < 0 {
		return usageError{"--limit must not be negative"}
	}
	nc, err := cf.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"from": *from, "to": *to, "sort": *sortOrder} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *limit > 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	b, err := nc.cu().Results(ctx, *process, q)
	if err != nil {
		return replyError(err)
	}
	return printJSON(stdout, json.RawMessage(b))
}

// ---- dryrun

const dryrunUsage = `dryrun --process ID [--tag Name=Value]... [--data S | --data-file F] [--anchor A] [--owner A] [--id ID] [--node URL]

Evaluates a message without scheduling it, as aoconnect's dryrun() does: POST
{node}/cu/dry-run?process-id= with {Id, Owner, Target, Data, Tags, Anchor};
Tags are yours then Data-Protocol ao, Type Message, Variant ao.TN.1; Id and
Owner default to "1234", Data to "1234", Anchor to "0". Needs no key.
Prints the CU's result.`

func dryrunCommand() command {
	return command{name: "dryrun", summary: "evaluate a message without sending it", run: runDryrun}
}

func runDryrun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dryrun", dryrunUsage, stderr)
	cf := addClientFlags(fs)
	process := fs.String("process", "", "process id")
	anchor := fs.String("anchor", "0", "Anchor of the message")
	owner := fs.String("owner", "1234", "Owner of the message")
	id := fs.String("id", "1234", "Id of the message")
	var tags tagFlags
	fs.Var(&tags, "tag", "tag as Name=Value (repeatable)")
	df := addDataFlags(fs)
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkID("process", *process); err != nil {
		return err
	}
	nc, err := cf.client()
	if err != nil {
		return err
	}
	data, err := df.read()
	if err != nil {
		return err
	}
	if len(data) == 0 {
		data = []byte("1234")
	}
	jsonData, err := json.Marshal(string(data))
	if err != nil {
		return err
	}
	msg := aoapi.DryRun{ID: *id, Owner: *owner, Target: *process, Data: jsonData, Anchor: *anchor, Tags: aoapi.TagsOf(tags)}
	msg.Tags = append(msg.Tags, aoapi.Tag{Name: "Data-Protocol", Value: "ao"}, aoapi.Tag{Name: "Type", Value: "Message"}, aoapi.Tag{Name: "Variant", Value: "ao.TN.1"})
	b, err := nc.cu().DryRun(ctx, *process, msg)
	if err != nil {
		return replyError(err)
	}
	return printJSON(stdout, json.RawMessage(b))
}
