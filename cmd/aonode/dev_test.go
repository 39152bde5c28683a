package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aonode/aonode/dataitem"
)

// startDev runs aonode dev in-process until the returned stop is called, and returns what
// it printed once the banner is complete.
func startDev(t *testing.T, args ...string) (banner string, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, append([]string{"dev", "--http", "127.0.0.1:0"}, args...), &stdout, &stderr)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stdout.String(), "Ctrl-C stops the node.") {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("dev exited %d early: %s %s", code, stdout.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no banner: %s %s", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return stdout.String(), func() (int, string) {
		cancel()
		select {
		case code := <-done:
			return code, stdout.String() + stderr.String()
		case <-time.After(60 * time.Second):
			t.Fatal("dev did not stop")
			return 0, ""
		}
	}
}

var nodeURLPattern = regexp.MustCompile(`MU_URL: "(http://127\.0\.0\.1:[0-9]+)/mu"`)

func TestDevMakesKeyPrintsSettingsAndPublishes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	modFile := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(modFile, wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	banner, stop := startDev(t, "--data", dir, "--module", modFile)
	m := nodeURLPattern.FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("banner without aoconnect settings:\n%s", banner)
	}
	base := m[1]
	for _, want := range []string{
		`CU_URL: "` + base + `/cu"`, `GATEWAY_URL: "` + base + `"`, `GRAPHQL_URL: "` + base + `/graphql"`,
		"SU         " + base + "/su", "(made now)", "wasm32-unknown-emscripten2",
		// Neither the node (a free port) nor the key (in a temporary folder) is the default.
		"export AONODE_NODE=" + base + " AONODE_KEY=" + filepath.Join(dir, "key.json"),
		"pid=$(aonode spawn --module ",
	} {
		if !strings.Contains(banner, want) {
			t.Fatalf("banner lacks %q:\n%s", want, banner)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "key.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info, err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "key.json"))
	signer, err := dataitem.ParseKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(signer.Owner())
	addr := dataitem.EncodeID(sum[:])
	if !strings.Contains(banner, "scheduler  "+addr) {
		t.Fatalf("banner does not name the key's address %s as scheduler:\n%s", addr, banner)
	}
	// The published module is on the gateway, signed by the node key.
	modID := regexp.MustCompile(`module     ([A-Za-z0-9_-]{43})`).FindStringSubmatch(banner)
	if modID == nil {
		t.Fatalf("no module id:\n%s", banner)
	}
	resp, err := http.Get(base + "/raw/" + modID[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(wasm) {
		t.Fatalf("/raw/%s = %d %q", modID[1], resp.StatusCode, body)
	}
	resp, err = http.Get(base + "/su/")
	if err != nil {
		t.Fatal(err)
	}
	var su struct{ Address string }
	_ = json.NewDecoder(resp.Body).Decode(&su)
	resp.Body.Close()
	if su.Address != addr {
		t.Fatalf("SU address %q, want %q", su.Address, addr)
	}
	http.DefaultClient.CloseIdleConnections()
	if code, out := stop(); code != 0 || !strings.Contains(out, "aonode dev: stopped") {
		t.Fatalf("exit %d: %s", code, out)
	}

	// The second run keeps the key and the data.
	banner, stop = startDev(t, "--data", dir)
	if !strings.Contains(banner, "(made on an earlier run)") || !strings.Contains(banner, "scheduler  "+addr) {
		t.Fatalf("second run:\n%s", banner)
	}
	if code, out := stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestDevWithKeyAndErrors(t *testing.T) {
	dir := t.TempDir()
	key := writeTestKey(t, dir)
	banner, stop := startDev(t, "--data", filepath.Join(dir, "d"), "--key", key)
	if !strings.Contains(banner, key+" (given with --key)") {
		t.Fatalf("banner:\n%s", banner)
	}
	if _, err := os.Stat(filepath.Join(dir, "d", "key.json")); err == nil {
		t.Fatal("a key was made although --key was given")
	}
	if code, out := stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}

	notWasm := filepath.Join(dir, "x.wasm")
	if err := os.WriteFile(notWasm, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"dev", "--data", ""}, 2, "--data must not be empty"},
		{[]string{"dev", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"dev", "--data", filepath.Join(dir, "e"), "--module", notWasm}, 1, "not a WebAssembly binary"},
		{[]string{"dev", "--data", filepath.Join(dir, "e"), "--module", filepath.Join(dir, "missing.wasm")}, 1, "--module"},
		{[]string{"dev", "--data", filepath.Join(dir, "e"), "--key", bad, "--http", "127.0.0.1:0"}, 1, "key file"},
		{[]string{"dev", "--data", filepath.Join(dir, "e"), "--module-memory-limit", "lots"}, 2, "--module-memory-limit"},
	} {
		var stdout, stderr lockedBuffer
		if code := runMain(context.Background(), c.args, &stdout, &stderr); code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	if f := detectFormat([]byte("\x00asm...wasi_snapshot_preview1...aonode_handle")); f != "wasm32-wasip1-aonode" {
		t.Fatal(f)
	}
	if f := detectFormat([]byte("\x00asm...env...invoke_vii")); f != "wasm32-unknown-emscripten2" {
		t.Fatal(f)
	}
	if f := detectFormat([]byte("\x00asm...env...invoke_vjj")); f != "wasm64-unknown-emscripten-draft_2024_02_15" {
		t.Fatal(f)
	}
}
