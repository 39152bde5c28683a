package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/su/evidence"
	et "github.com/aonode/aonode/su/evidence/evidencetest"
)

func TestEvidenceVerify(t *testing.T) {
	su, other := et.Key(t), et.Key(t)
	proc := et.Process(t, et.Key(t), et.Address(su), et.Address(other))
	e, err := evidence.New(et.Assignment(t, su, proc.ID(), 4, et.MessageID(), 1), et.Assignment(t, other, proc.ID(), 4, et.MessageID(), 2))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := write("full.json", e.WithProcess(proc).Marshal())
	bare := write("bare.json", e.Marshal())
	procFile := write("process.bin", proc.Raw())
	list, _ := json.Marshal([]aoapi.Evidence{e.WithProcess(proc).API(), e.WithProcess(proc).API()})
	listFile := write("list.json", list)
	forged := e.WithProcess(proc).API()
	forged.Nonce = 5
	forgedJSON, _ := json.Marshal(forged)
	forgedFile := write("forged.json", forgedJSON)
	outsider := et.Process(t, et.Key(t), et.Address(su))
	badList, _ := json.Marshal([]aoapi.Evidence{e.WithProcess(proc).API(), e.WithProcess(outsider).API()})
	badListFile := write("badlist.json", badList)

	r := run(t, "evidence", "verify", full)
	r.want(t, 0, "")
	if !strings.Contains(r.stdout, "valid: process "+proc.ID()+" nonce 4") {
		t.Fatalf("stdout: %s", r.stdout)
	}
	run(t, "evidence", "verify", "--process", procFile, bare).want(t, 0, "")
	if r := run(t, "evidence", "verify", listFile); r.code != 0 || strings.Count(r.stdout, ": valid") != 2 {
		t.Fatalf("list: %+v", r)
	}
	r = run(t, "evidence", "verify", bare)
	if r.code != 1 || !strings.Contains(r.stdout, "Process item is needed") {
		t.Fatalf("bare without --process: %+v", r)
	}
	r = run(t, "evidence", "verify", forgedFile)
	if r.code != 1 || !strings.Contains(r.stdout, "invalid") || !strings.Contains(r.stdout, "nonce 4") {
		t.Fatalf("forged: %+v", r)
	}
	r = run(t, "evidence", "verify", badListFile)
	if r.code != 1 || !strings.Contains(r.stdout, "[1]: invalid") || !strings.Contains(r.stdout, "the assignments are of") {
		t.Fatalf("one bad in a list: %+v", r)
	}
	run(t, "evidence", "verify", write("junk.json", []byte("{{"))).want(t, 1, "not evidence JSON")
	run(t, "evidence", "verify", write("empty.json", []byte("[]"))).want(t, 1, "no evidence")
	run(t, "evidence", "verify", filepath.Join(dir, "missing.json")).want(t, 1, "no such file")
	run(t, "evidence", "verify").want(t, 2, "exactly one FILE")
	run(t, "evidence").want(t, 2, "subcommand is required")
	run(t, "evidence", "--help").want(t, 0, "offline")
}
