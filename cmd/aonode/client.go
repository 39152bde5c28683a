package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
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

// The environment of the client commands: the node they talk to and the key they sign with,
// so that a session needs neither on every line.
const (
	envNode = "AONODE_NODE"
	envKey  = "AONODE_KEY"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	node    string
	timeout time.Duration
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	def := DefaultNodeURL
	if v := os.Getenv(envNode); v != "" {
		def = v
	}
	fs.StringVar(&c.node, "node", def, "base URL of the node (its /mu, /cu, /su and gateway routes are used); default $"+envNode+", else "+DefaultNodeURL)
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "timeout of each HTTP request")
	return c
}

// addKeyFlag registers --key for a command that signs with it (what).
func addKeyFlag(fs *flag.FlagSet, what string) *string {
	return fs.String("key", "", "key file (JWK) that signs "+what+"; default $"+envKey+", else "+devKeyPath+" when it exists (the key of 'aonode dev' run from this folder)")
}

// devKeyPath is the key a dev node run from the current folder makes.
var devKeyPath = DefaultDevDataDir + string(os.PathSeparator) + "key.json"

// clientKey names the key file a client command signs with: --key, else $AONODE_KEY, else the
// dev node's key in the current folder. ok is false when there is none of these.
func clientKey(flagValue string) (path string, ok bool) {
	if flagValue != "" {
		return flagValue, true
	}
	if v := os.Getenv(envKey); v != "" {
		return v, true
	}
	if st, err := os.Stat(devKeyPath); err == nil && st.Mode().IsRegular() {
		return devKeyPath, true
	}
	return "", false
}

// clientSigner loads the key clientKey names.
func clientSigner(flagValue string) (dataitem.Signer, error) {
	path, ok := clientKey(flagValue)
	if !ok {
		return nil, usageError{"--key FILE is required (or set $" + envKey + ", or run from the folder where 'aonode dev' keeps " + devKeyPath + ")"}
	}
	return loadSigner(path)
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

// freshAnchor is a random anchor of 32 base64url characters (24 random bytes). ed25519
// signatures are deterministic, so without one the same tags and data sent twice would be one
// item id, and the second send would silently be the first message with its old result.
func freshAnchor() ([]byte, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("making an anchor: %w", err)
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b[:])), nil
}

// anchorOf is --anchor when given, else a fresh one.
func anchorOf(flagValue string) ([]byte, error) {
	if flagValue == "" {
		return freshAnchor()
	}
	a, err := parseAnchor(flagValue)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return a, nil
}

// ---- spawn

const spawnUsage = `spawn (--module ID | --module-file FILE.wasm) [--scheduler ADDR]... [--tag Name=Value]... [--data S | --data-file F] [--anchor A] [--key FILE] [--node URL] [--quiet]

Spawns a process as aoconnect's spawn() does: checks the module through the
node's gateway (GraphQL: Data-Protocol ao, Type Module, Module-Format,
Input-Encoding, Output-Encoding), signs a Type Process item (tags: yours, then
Content-Type text/plain when there is no data, SDK aoconnect, Data-Protocol ao,
Variant ao.TN.1, Type Process, Module, Scheduler, Timestamp) and posts it to
the node's MU. --scheduler defaults to the address of the node's SU; repeat it
to name a scheduler set (one Scheduler tag each), whose members agree on the
order of the process's messages and keep it going while a majority is up.
  --module-file  publishes FILE.wasm first, as 'aonode module publish' does
                 (--module-format, default detected; --memory-limit and
                 --compute-limit, defaults as there), then spawns it
  --anchor       32 characters, or base64url of 32 bytes (default: random)
Prints {"id", "process", "module", "scheduler"} as JSON (with several
schedulers also "schedulers", and "warning" for a set of two), or with --quiet
the process id alone (a warning goes to standard error). The node and key default to $AONODE_NODE and
$AONODE_KEY (see 'aonode send --help').`

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
	keyFile := addKeyFlag(fs, "the process (and the module of --module-file)")
	module := fs.String("module", "", "module id")
	moduleFile := fs.String("module-file", "", "module binary to publish, then spawn")
	modFlags := addModuleLimitFlags(fs)
	modFormat := fs.String("module-format", "", "Module-Format of --module-file (default: detected)")
	var schedulers schedulerFlags
	fs.Var(&schedulers, "scheduler", "scheduler address, repeatable: one Scheduler tag each (default: the node's SU)")
	anchor := fs.String("anchor", "", "anchor: 32 characters, or base64url of 32 bytes (default: random)")
	quiet := fs.Bool("quiet", false, "print the process id only")
	var tags tagFlags
	fs.Var(&tags, "tag", "tag as Name=Value (repeatable)")
	df := addDataFlags(fs)
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	switch {
	case *module != "" && *moduleFile != "":
		return usageError{"give --module or --module-file, not both"}
	case *moduleFile == "":
		if err := checkID("module", *module); err != nil {
			return err
		}
	}
	spec, err := modFlags.spec(*modFormat)
	if err != nil {
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
	f := dataitem.Fields{Data: itemData(data)}
	if f.Anchor, err = anchorOf(*anchor); err != nil {
		return err
	}
	signer, err := clientSigner(*keyFile)
	if err != nil {
		return err
	}
	if *moduleFile != "" {
		wasm, err := readWasm(*moduleFile)
		if err != nil {
			return err
		}
		if spec.format == "" {
			spec.format = detectFormat(wasm)
		}
		it, err := uploadModule(ctx, nc, signer, wasm, spec)
		if err != nil {
			return err
		}
		*module = it.ID()
	} else if err := nc.checkModule(ctx, *module); err != nil {
		return err
	}
	if len(schedulers) == 0 {
		addr, err := nc.schedulerAddress(ctx)
		if err != nil {
			return err
		}
		schedulers = schedulerFlags{addr}
	}
	protocol := []dataitem.Tag{{Name: "Type", Value: "Process"}, {Name: "Module", Value: *module}}
	for _, s := range schedulers {
		protocol = append(protocol, dataitem.Tag{Name: "Scheduler", Value: s})
	}
	protocol = append(protocol, dataitem.Tag{Name: "Timestamp", Value: strconv.FormatInt(time.Now().UnixMilli(), 10)})
	f.Tags = aoTags(tags, len(data) > 0, true, protocol, "Module", "Scheduler", "Timestamp")
	it, err := dataitem.Sign(signer, f)
	if err != nil {
		return err
	}
	if err := nc.postItem(ctx, it); err != nil {
		return err
	}
	warning := schedulers.warning()
	if *quiet {
		if warning != "" {
			fmt.Fprintf(stderr, "aonode spawn: warning: %s\n", warning)
		}
		return printID(stdout, it.ID())
	}
	if len(schedulers) == 1 {
		return printJSON(stdout, map[string]string{"id": it.ID(), "process": it.ID(), "module": *module, "scheduler": schedulers[0]})
	}
	out := map[string]any{"id": it.ID(), "process": it.ID(), "module": *module, "scheduler": schedulers[0], "schedulers": []string(schedulers)}
	if warning != "" {
		out["warning"] = warning
	}
	return printJSON(stdout, out)
}

// schedulerFlags collects repeated --scheduler flags: the process's scheduler set, one
// Scheduler tag each, in the order given (every node reads the set sorted, aoapi.Schedulers).
type schedulerFlags []string

func (s *schedulerFlags) String() string { return strings.Join(*s, ",") }

func (s *schedulerFlags) Set(v string) error {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return errors.New("empty scheduler address")
	case strings.Contains(v, ","):
		return fmt.Errorf("scheduler %q: give one address per --scheduler", v)
	case slices.Contains(*s, v):
		return fmt.Errorf("scheduler %s named twice", v)
	case len(*s) == aoapi.MaxSchedulers:
		return fmt.Errorf("more than %d schedulers", aoapi.MaxSchedulers)
	}
	*s = append(*s, v)
	return nil
}

// warning is what a spawn must tell about its set: two schedulers form a Raft group that
// needs both for a majority.
func (s schedulerFlags) warning() string {
	if len(s) != 2 {
		return ""
	}
	return "a set of two schedulers cannot survive the loss of either: writes stop when one is down; name three (or five) to tolerate one (or two) failures"
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

const sendUsage = `send --process ID [--tag Name=Value]... [--data S | --data-file F] [--anchor A] [--cast | --wait] [--key FILE] [--node URL] [--quiet]

Sends a message as aoconnect's message() does: signs an item targeting the
process (tags: yours, then SDK aoconnect, Content-Type text/plain when there
is no data, Data-Protocol ao, Variant ao.TN.1, Type Message; data " " when
none; a random anchor unless --anchor names one) and posts it to the node's
MU. Prints {"id", "process"}, or with --quiet the message id alone.
  --cast   adds the tag Cast: true (a message whose result nobody awaits)
  --wait   polls the node's CU until the result is there (up to --wait-timeout)
           and prints {"id", "process", "result"} (with --quiet: the id, once
           the result is there)

The client commands (module publish, spawn, send, result, results, dryrun)
read two environment variables: AONODE_NODE, the node when --node is not
given, and AONODE_KEY, the key file when --key is not given; without either
key they sign with ` + "./.aonode-dev/key.json" + ` when it exists (the key 'aonode dev'
makes in its default data folder).`

func sendCommand() command {
	return command{name: "send", summary: "send a message to a process (as aoconnect does)", run: runSend}
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("send", sendUsage, stderr)
	cf := addClientFlags(fs)
	keyFile := addKeyFlag(fs, "the message")
	process := fs.String("process", "", "target process id")
	anchor := fs.String("anchor", "", "anchor: 32 characters, or base64url of 32 bytes (default: random)")
	quiet := fs.Bool("quiet", false, "print the message id only")
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
	if f.Anchor, err = anchorOf(*anchor); err != nil {
		return err
	}
	user := []dataitem.Tag(tags)
	if *cast {
		user = append(user, dataitem.Tag{Name: "Cast", Value: "true"})
	}
	f.Tags = aoTags(user, len(data) > 0, false, []dataitem.Tag{{Name: "Type", Value: "Message"}})
	signer, err := clientSigner(*keyFile)
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
	if *quiet {
		return printID(stdout, it.ID())
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

const resultUsage = `result --message ID --process ID [--node URL] [--quorum K]

Prints the CU's result of a message (GET {node}/cu/result/{message}?process-id=)
as aoconnect's result() returns it. With --quorum K above 1, asks every CU the node
knows (its own and those GET {node}/peers lists) for the result and its attestation,
and prints the result only if K distinct CUs attest the same Result-SHA256 (exit
status 1 otherwise, with the table of what each CU said).`

func resultCommand() command {
	return command{name: "result", summary: "print the result of a message", run: runResult}
}

func runResult(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("result", resultUsage, stderr)
	cf := addClientFlags(fs)
	message := fs.String("message", "", "message id")
	process := fs.String("process", "", "process id")
	quorum := fs.Int("quorum", 1, "distinct CUs that must attest the same result")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkID("message", *message); err != nil {
		return err
	}
	if err := checkID("process", *process); err != nil {
		return err
	}
	if *quorum < 1 || *quorum > 64 {
		return usageError{"--quorum must be within 1..64"}
	}
	nc, err := cf.client()
	if err != nil {
		return err
	}
	if *quorum > 1 {
		return resultQuorum(ctx, nc, cf, *process, *message, *quorum, stdout)
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

const dryrunUsage = `dryrun --process ID [--tag Name=Value]... [--data S | --data-file F] [--anchor A] [--owner A] [--id ID] [--key FILE] [--node URL]

Evaluates a message without scheduling it, as aoconnect's dryrun() does: POST
{node}/cu/dry-run?process-id= with {Id, Owner, Target, Data, Tags, Anchor};
Tags are yours then Data-Protocol ao, Type Message, Variant ao.TN.1; Id
defaults to "1234", Data to "1234", Anchor to "0". Owner defaults to the
address of the key (--key, $AONODE_KEY or ./.aonode-dev/key.json, as send
finds it; nothing is signed), so that an aos process answers its owner's Eval;
without a key it is aoconnect's "1234". Prints the CU's result.`

func dryrunCommand() command {
	return command{name: "dryrun", summary: "evaluate a message without sending it", run: runDryrun}
}

func runDryrun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dryrun", dryrunUsage, stderr)
	cf := addClientFlags(fs)
	process := fs.String("process", "", "process id")
	anchor := fs.String("anchor", "0", "Anchor of the message")
	owner := fs.String("owner", "", "Owner of the message (default: the key's address, else 1234)")
	keyFile := addKeyFlag(fs, "nothing: its address is the default Owner")
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
	if *owner == "" {
		*owner = "1234"
		if path, ok := clientKey(*keyFile); ok {
			s, err := loadSigner(path)
			if err != nil {
				return err
			}
			*owner = dataitem.OwnerAddress(s.Owner())
		}
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
