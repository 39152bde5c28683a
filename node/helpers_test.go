package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node/fixtures"
)

// buildDir holds what the tests build once per run (the aonode binary, test modules); made
// and removed by TestMain.
var buildDir string

type built struct {
	once sync.Once
	path string
	err  error
}

var (
	aonodeBin built
	loopWasm  built
)

// goBuild builds pkg into buildDir/name once per test run.
func goBuild(t testing.TB, b *built, name, pkg string, env ...string) string {
	t.Helper()
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, name)
		args := []string{"build"}
		if len(env) > 0 {
			args = append(args, "-buildmode=c-shared")
		}
		cmd := exec.Command("go", append(args, "-o", b.path, pkg)...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func buildAonode(t testing.TB) string {
	return goBuild(t, &aonodeBin, "aonode", "github.com/aonode/aonode/cmd/aonode")
}

// loopModule is node/testdata/loop built for the WASI format.
func loopModule(t testing.TB) []byte {
	p := goBuild(t, &loopWasm, "loop.wasm", "./testdata/loop", "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// aosModule reads the aos fixture beside the repository, or skips.
func aosModule(t testing.TB) []byte {
	t.Helper()
	return fixtures.Read(t, "fixtures", "wasm", "aos.wasm")
}

// diskConfig is testConfig with a store on disk: modules are larger than what the in-memory
// store holds in one value.
func diskConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.InMemory, cfg.DataDir = false, t.TempDir()
	// One compilation cache for the run: compiling a module under -race takes seconds.
	cfg.CompileCacheDir = filepath.Join(buildDir, "wasm-cache")
	return cfg
}

// aoClient drives a node as aoconnect does: items POSTed to the MU, results from the CU.
type aoClient struct {
	t      testing.TB
	base   string // the node's base URL
	signer dataitem.Signer
	http   *http.Client
}

func newClient(t testing.TB, base string, signer dataitem.Signer) *aoClient {
	c := &aoClient{t: t, base: base, signer: signer, http: &http.Client{Timeout: 2 * time.Minute}}
	t.Cleanup(c.http.CloseIdleConnections)
	return c
}

type reply struct {
	code int
	body []byte
	hdr  http.Header
}

func (r reply) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("reply %d is not JSON: %v\n%.500s", r.code, err, r.body)
	}
}

func (c *aoClient) do(method, path, ctype string, body []byte, hdr ...string) reply {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return reply{resp.StatusCode, b, resp.Header}
}

func tags(kv ...string) []dataitem.Tag {
	var out []dataitem.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, dataitem.Tag{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func (c *aoClient) sign(f dataitem.Fields) *dataitem.Item {
	c.t.Helper()
	it, err := dataitem.Sign(c.signer, f)
	if err != nil {
		c.t.Fatal(err)
	}
	return it
}

// publish uploads a module item to the gateway.
func (c *aoClient) publish(wasm []byte, format string) string {
	c.t.Helper()
	it := c.sign(dataitem.Fields{Data: wasm, Tags: tags(
		"Data-Protocol", "ao", "Type", "Module", "Module-Format", format,
		"Input-Encoding", "JSON-1", "Output-Encoding", "JSON-1", "Variant", "ao.TN.1",
		"Content-Type", "application/wasm", "Memory-Limit", "1-gb", "Compute-Limit", "9000000000000")})
	if r := c.do("POST", "/tx", "application/octet-stream", it.Raw()); r.code != 200 {
		c.t.Fatalf("publishing the module: %d %s", r.code, r.body)
	}
	return it.ID()
}

// postMU posts an item to the MU as aoconnect does and wants 202.
func (c *aoClient) postMU(it *dataitem.Item) {
	c.t.Helper()
	r := c.do("POST", "/mu", "application/octet-stream", it.Raw(), "Accept", "application/json")
	var out struct{ Message, ID string }
	r.json(c.t, &out)
	if r.code != 202 || out.ID != it.ID() || out.Message != "Processing DataItem" {
		c.t.Fatalf("POST /mu: %d %s", r.code, r.body)
	}
}

// spawn spawns a process of module on scheduler with extra tags, as aoconnect builds it.
func (c *aoClient) spawn(module, scheduler string, extra ...string) string {
	c.t.Helper()
	tg := append(tags(extra...), tags("SDK", "aoconnect", "Data-Protocol", "ao", "Variant", "ao.TN.1",
		"Type", "Process", "Module", module, "Scheduler", scheduler,
		"Timestamp", fmt.Sprint(time.Now().UnixMilli()))...)
	it := c.sign(dataitem.Fields{Data: []byte(" "), Tags: append(tags("Content-Type", "text/plain"), tg...)})
	c.postMU(it)
	return it.ID()
}

// send sends a Message to pid, as aoconnect's message() builds it.
func (c *aoClient) send(pid, data string, extra ...string) string {
	c.t.Helper()
	target, err := dataitem.DecodeID(pid)
	if err != nil {
		c.t.Fatal(err)
	}
	if data == "" {
		data = " "
	}
	tg := append(tags(extra...), tags("SDK", "aoconnect", "Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Message")...)
	it := c.sign(dataitem.Fields{Target: target[:], Data: []byte(data), Tags: tg})
	c.postMU(it)
	return it.ID()
}

// result reads the result of message id in pid (evaluating up to it).
func (c *aoClient) result(pid, id string) map[string]json.RawMessage {
	c.t.Helper()
	r := c.do("GET", "/cu/result/"+id+"?process-id="+pid, "", nil, "Accept", "application/json")
	if r.code != 200 {
		c.t.Fatalf("result of %s: %d %s", id, r.code, r.body)
	}
	var out map[string]json.RawMessage
	r.json(c.t, &out)
	return out
}

// dryrun evaluates a read-only message, with aoconnect's body shape.
func (c *aoClient) dryrun(pid string, extra ...string) map[string]json.RawMessage {
	c.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"Id": "1234", "Owner": "1234", "Target": pid, "Data": "1234", "Anchor": "0",
		"Tags": append(tagMaps(extra...), tagMaps("Data-Protocol", "ao", "Type", "Message", "Variant", "ao.TN.1")...),
	})
	r := c.do("POST", "/cu/dry-run?process-id="+pid, "application/json", body, "Accept", "application/json")
	if r.code != 200 {
		c.t.Fatalf("dry-run on %s: %d %s", pid, r.code, r.body)
	}
	var out map[string]json.RawMessage
	r.json(c.t, &out)
	return out
}

func tagMaps(kv ...string) []map[string]string {
	out := []map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, map[string]string{"name": kv[i], "value": kv[i+1]})
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
// waitFor polls missing until it reports nothing missing ("") or timeout passes, then fails
// with what was still missing at the last look.
func waitFor(t testing.TB, what string, timeout time.Duration, missing func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := missing()
		if m == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; still missing: %s", timeout, what, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pending is "" once n's crank queue is empty, else how many tasks it holds.
func pending(n *Node) string {
	return unless(n.MU().Pending() == 0, "%d crank tasks still queued", n.MU().Pending())
}

// unless is "" when ok, else the description of what is missing.
func unless(ok bool, format string, args ...any) string {
	if ok {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

func contains(raw json.RawMessage, s string) bool { return strings.Contains(string(raw), s) }

// fieldsTo is the item aoconnect's monitor signs: target = the process, data " ", no tags.
func fieldsTo(t testing.TB, pid string) dataitem.Fields {
	return dataitem.Fields{Target: mustID(t, pid), Data: []byte(" ")}
}

// childNode is a real aonode process that the crash tests start, kill with SIGKILL and
// restart. base is the node's root URL; start waits for its /health.
type childNode struct {
	t      *testing.T
	bin    string
	args   []string
	base   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

func (k *childNode) start() {
	k.t.Helper()
	k.stderr = &bytes.Buffer{}
	k.cmd = exec.Command(k.bin, k.args...)
	k.cmd.Stderr = k.stderr
	if err := k.cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(k.base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			k.kill()
			k.t.Fatalf("aonode did not become ready: %v\n%s", err, k.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (k *childNode) kill() {
	_ = k.cmd.Process.Signal(syscall.SIGKILL)
	_ = k.cmd.Wait()
}

// stop ends the child with SIGTERM and reports whether it exited cleanly.
func (k *childNode) stop() error {
	if err := k.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := k.cmd.Wait(); err != nil {
		return fmt.Errorf("aonode after SIGTERM: %w\n%s", err, k.stderr)
	}
	return nil
}

// envCount reads a positive count from the environment variable name, or gives def.
func envCount(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q", name, v)
	}
	return n
}
