package testnet

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDockerTestnetScreenshot draws the explorer's network graph of a container testnet and
// writes it to $AONODE_DOCKER_SHOT (the README's node/explorer/docs/network-testnet.png):
// twelve containers of mixed roles, a workload so that processes sit beside their SUs, and the
// page of node 0 as a person on the host opens it.
func TestDockerTestnetScreenshot(t *testing.T) {
	out := os.Getenv("AONODE_DOCKER_SHOT")
	if out == "" {
		t.Skip("SKIP: set AONODE_DOCKER_SHOT=FILE.png to draw a container testnet's network graph")
	}
	dockerOrSkip(t)
	bin := ""
	for _, name := range []string{os.Getenv("AONODE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); name != "" && err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("SKIP: no Chromium (scripts/ensure-chromium.sh installs Debian's)")
	}
	buildImage(t)
	d := startDockerTestnet(t, 12, 3)
	chaos(t, d.st, "none", 10, 0)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("hide-scrollbars", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(d.st.Nodes[0].HTTP+"/explorer/#/network")); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer tcancel()
	if err := chromedp.Do(tctx,
		chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "#/network"`, chromedp.WithPollingTimeout(90*time.Second)),
		chromedp.Sleep(6*time.Second), // a refresh or two: every node's connections drawn
	); err != nil {
		t.Fatal(err)
	}
	drawn, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.graph g.node').length`))
	if err != nil {
		t.Fatal(err)
	}
	if drawn < 12 {
		t.Errorf("%d nodes drawn, want 12 or more", drawn)
	}
	buf, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, ".png") {
		out += ".png"
	}
	if err := os.WriteFile(out, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of %d nodes: %s", drawn, out)
}
