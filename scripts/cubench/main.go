// Command cubench times `aonode eval` sessions of the aos module (../shared/fixtures/wasm/aos.wasm,
// metered, Module-Format wasm32-unknown-emscripten2) with two aonode binaries, interleaved
// in one run so that both see the same machine load: a one-message session (start-up, with
// the new binary's compilation cache cold and then warm), the 202-message aos-counter session
// of ../shared/vectors/aoloader, a 211-message token session (transfers, balances, 100 KB
// data, spawns) and one compute-bound message that runs to "out of gas!" at 1e11 gas. Every
// eval hashes the memory after every message (SHA-256), as the Node figures do. It
// prints the medians, new/base, and new against the Node 20 + @permaweb/ao-loader 0.0.49
// figures of issue 16 (measured on this machine model; npm is not available here), and
// checks that both binaries print the same lines.
//
//	go run ./scripts/cubench -base OLD_AONODE -new NEW_AONODE [-rounds 5]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type session struct {
	name  string
	msgs  int
	file  string
	limit string
	nodeS float64 // the Node figure, seconds
	cold  bool    // run the new binary with an empty compilation cache
}

type sample struct{ wall, cpu, rssMB float64 }

func main() {
	base := flag.String("base", "", "baseline aonode binary")
	nw := flag.String("new", "", "aonode binary under test")
	shared := flag.String("shared", "../shared", "the shared fixtures folder")
	rounds := flag.Int("rounds", 5, "rounds (median shown)")
	flag.Parse()
	if *base == "" || *nw == "" {
		fmt.Fprintln(os.Stderr, "cubench: -base and -new are required")
		os.Exit(2)
	}
	tmp := os.Getenv("CUBENCH_KEEP")
	var err error
	if tmp == "" {
		tmp, err = os.MkdirTemp("", "cubench")
		check(err)
		defer os.RemoveAll(tmp)
	}
	mod := filepath.Join(*shared, "fixtures", "wasm", "aos.wasm")
	sessions := writeSessions(tmp, filepath.Join(*shared, "vectors", "aoloader", "aos-counter.json"))
	cache := filepath.Join(tmp, "cache")
	type key struct{ sess, bin string }
	res := map[key][]sample{}
	outs := map[key][]byte{}
	bins := []struct{ name, path string }{{"base", *base}, {"new", *nw}}
	for r := 0; r < *rounds; r++ {
		for _, s := range sessions {
			for _, b := range bins {
				args := []string{"eval", "--module", mod, "--format", "wasm32-unknown-emscripten2", "--compute-limit", s.limit}
				if b.name == "new" {
					if s.cold {
						check(os.RemoveAll(cache))
					}
					args = append(args, "--cache-dir", cache)
				}
				args = append(args, s.file)
				smp, out := run(b.path, args)
				k := key{s.name, b.name}
				res[k] = append(res[k], smp)
				outs[k] = out
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("aos (aos.wasm, format 2, metered) via aonode eval, memory SHA-256 after every message; median of %d interleaved rounds; load %s\n",
		*rounds, strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("%-26s %5s %9s %9s %9s %9s %9s %8s %8s\n", "session", "msgs", "base s", "new s", "new/base", "Node s", "new/Node", "base MB", "new MB")
	for _, s := range sessions {
		b, n := med(res[key{s.name, "base"}]), med(res[key{s.name, "new"}])
		same := ""
		if !bytes.Equal(outs[key{s.name, "base"}], outs[key{s.name, "new"}]) {
			same = "  OUTPUT DIFFERS"
		}
		nodeCol, ratio := "-", "-"
		if s.nodeS > 0 {
			nodeCol, ratio = fmt.Sprintf("%.2f", s.nodeS), fmt.Sprintf("%.2f", n.wall/s.nodeS)
		}
		fmt.Printf("%-26s %5d %9.2f %9.2f %9.2f %9s %9s %8.0f %8.0f%s\n", s.name, s.msgs, b.wall, n.wall, n.wall/b.wall, nodeCol, ratio, b.rssMB, n.rssMB, same)
	}
	fmt.Println("CPU seconds (user+system), medians:")
	for _, s := range sessions {
		b, n := med(res[key{s.name, "base"}]), med(res[key{s.name, "new"}])
		fmt.Printf("  %-24s base %.2f  new %.2f  new/base %.2f\n", s.name, b.cpu, n.cpu, n.cpu/b.cpu)
	}
}

func run(bin string, args []string) (sample, []byte) {
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "cubench: %s %s: %v\n%s", bin, strings.Join(args, " "), err, errb.String())
		os.Exit(1)
	}
	wall := time.Since(start).Seconds()
	ps := cmd.ProcessState
	rss := 0.0
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024
	}
	return sample{wall, (ps.UserTime() + ps.SystemTime()).Seconds(), rss}, out.Bytes()
}

func med(s []sample) sample {
	pick := func(f func(sample) float64) float64 {
		v := make([]float64, len(s))
		for i := range s {
			v[i] = f(s[i])
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return sample{pick(func(x sample) float64 { return x.wall }), pick(func(x sample) float64 { return x.cpu }), pick(func(x sample) float64 { return x.rssMB })}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cubench:", err)
		os.Exit(1)
	}
}

type msg map[string]any

// writeSessions writes the sessions, in the loader's env and message shapes, with the
// counter vector's env.
func writeSessions(dir, counterVector string) []session {
	raw, err := os.ReadFile(counterVector)
	check(err)
	var v struct {
		Env      json.RawMessage   `json:"env"`
		Messages []json.RawMessage `json:"messages"`
	}
	check(json.Unmarshal(raw, &v))
	write := func(name string, msgs any) string {
		b, err := json.Marshal(map[string]any{"env": v.Env, "messages": msgs})
		check(err)
		p := filepath.Join(dir, name+".json")
		check(os.WriteFile(p, b, 0o600))
		return p
	}
	mk := func(i int, from string, tags [][2]string, data string) msg {
		t := []map[string]string{}
		for _, kv := range tags {
			t = append(t, map[string]string{"name": kv[0], "value": kv[1]})
		}
		return msg{"Id": fmt.Sprintf("msg-%04d", i), "Owner": from, "From": from, "Target": "ctr-id-456", "Module": "1234",
			"Block-Height": 1060, "Timestamp": 1700000000000 + int64(i)*1000, "Tags": t, "Data": data}
	}
	eval := func(i int, code string) msg { return mk(i, "tom", [][2]string{{"Action", "Eval"}}, code) }
	const limit = "9000000000000"
	one := write("one", []msg{eval(0, "return 1 + 1")})
	oog := write("oog", []msg{eval(0, "local i = 0\nwhile true do i = i + 1 end\nreturn i")})
	counter := write("counter", v.Messages)

	users := []string{"ann", "ben", "cat", "dan", "eve", "fay", "gus", "hal"}
	big := strings.Repeat("0123456789abcdef", 100*1024/16)
	tok := []msg{eval(0, tokenLua)}
	for i := 1; len(tok) < 211; i++ {
		u, w := users[i%len(users)], users[(i*3+1)%len(users)]
		switch {
		case i%40 == 0:
			tok = append(tok, mk(i, u, [][2]string{{"Action", "Spawn-Child"}}, ""))
		case i%25 == 0:
			tok = append(tok, mk(i, u, [][2]string{{"Action", "Balances"}}, ""))
		case i%30 == 7:
			tok = append(tok, mk(i, u, [][2]string{{"Action", "Store"}}, big))
		case i%5 == 0:
			tok = append(tok, mk(i, u, [][2]string{{"Action", "Balance"}, {"Target", w}}, ""))
		case i%3 == 0:
			tok = append(tok, mk(i, u, [][2]string{{"Action", "Transfer"}, {"Recipient", w}, {"Quantity", strconv.Itoa(i % 17)}}, ""))
		default:
			tok = append(tok, mk(i, "tom", [][2]string{{"Action", "Transfer"}, {"Recipient", u}, {"Quantity", strconv.Itoa(100 + i)}}, ""))
		}
	}
	token := write("token", tok)
	return []session{
		{name: "one message (cold cache)", msgs: 1, file: one, limit: limit, nodeS: 0.42, cold: true},
		{name: "one message (warm cache)", msgs: 1, file: one, limit: limit, nodeS: 0.42},
		{name: "aos-counter", msgs: len(v.Messages), file: counter, limit: limit, nodeS: 2.68},
		{name: "aos token", msgs: len(tok), file: token, limit: limit, nodeS: 4.94},
		{name: "loop to out of gas (1e11)", msgs: 1, file: oog, limit: "100000000000", nodeS: 3.52},
	}
}

const tokenLua = `Balances = Balances or { tom = 1000000000 }
local json = require("json")
Handlers.add("transfer", Handlers.utils.hasMatchingTag("Action", "Transfer"), function(m)
  local qty, to = tonumber(m.Tags.Quantity), m.Tags.Recipient
  if qty and (Balances[m.From] or 0) >= qty then
    Balances[m.From] = Balances[m.From] - qty
    Balances[to] = (Balances[to] or 0) + qty
    ao.send({ Target = m.From, Action = "Debit-Notice", Recipient = to, Quantity = tostring(qty) })
    ao.send({ Target = to, Action = "Credit-Notice", Sender = m.From, Quantity = tostring(qty) })
  else
    ao.send({ Target = m.From, Action = "Transfer-Error", Error = "Insufficient Balance!" })
  end
end)
Handlers.add("balance", Handlers.utils.hasMatchingTag("Action", "Balance"), function(m)
  local who = m.Tags.Target or m.From
  ao.send({ Target = m.From, Balance = tostring(Balances[who] or 0), Data = tostring(Balances[who] or 0) })
end)
Handlers.add("balances", Handlers.utils.hasMatchingTag("Action", "Balances"), function(m)
  ao.send({ Target = m.From, Data = json.encode(Balances) })
end)
Handlers.add("store", Handlers.utils.hasMatchingTag("Action", "Store"), function(m)
  Stored = Stored or {}
  Stored[m.Id] = m.Data
  ao.send({ Target = m.From, Data = "stored " .. #m.Data })
end)
Handlers.add("spawn", Handlers.utils.hasMatchingTag("Action", "Spawn-Child"), function(m)
  ao.spawn("1234", { Data = "child of " .. ao.id, ["Child-Of"] = m.From })
end)
return "token ready"`
