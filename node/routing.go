package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aonode/aonode/cu"
	"github.com/aonode/aonode/mu"
	"github.com/aonode/aonode/p2p"
	"github.com/aonode/aonode/store"
)

// follow subscribes to the topic of pid and wakes the CU's evaluator on every push.
func (nw *network) follow(pid string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.closed || nw.wake == nil || nw.follows[pid] != nil {
		return
	}
	if len(nw.follows) >= maxFollowed {
		nw.log.Warn("not following process: too many followed", "process", pid, "max", maxFollowed)
		return
	}
	sub, err := nw.host.SubscribeProcess(pid)
	if err != nil {
		nw.log.Warn("following process failed", "process", pid, "err", err)
		return
	}
	nw.follows[pid] = sub
	nw.followAttestations(pid)
	wake := nw.wake
	nw.wg.Go(func() {
		// Pushes come from the process's schedulers: be their neighbour, or the topic may
		// have no member this node is connected to.
		scheds, _ := nw.ProcessSchedulers(pid)
		ctx, cancel := context.WithTimeout(nw.ctx, resolveTimeout)
		nw.dialDirectory(ctx, func(r p2p.NodeRecord) bool { return r.Scheduler != "" && slices.Contains(scheds, r.Scheduler) })
		cancel()
		for a := range sub.Assignments() {
			if err := wake(pid); err != nil {
				nw.log.Debug("waking evaluator", "process", pid, "nonce", a.Nonce, "err", err)
			}
		}
	})
}

// netSource is the CU's Source on a p2p node: each process is read from an SU of its
// scheduler set, found through the node directory, the next member when one is unavailable.
// Loading a process starts following its topic, so later slots are evaluated when they are
// pushed, not when asked for.
type netSource struct{ nw *network }

// each calls fn with a client of each known member of pid's set in turn, until one answers
// with anything but "unavailable" (every member serves the same committed slots).
func (s netSource) each(ctx context.Context, pid string, fn func(*cu.SUClient) error) error {
	urls, err := s.nw.susOf(ctx, pid)
	if err != nil {
		return fmt.Errorf("%w: %v", cu.ErrNotFound, err)
	}
	var errs []error
	for _, u := range urls {
		c, err := s.client(u)
		if err == nil {
			err = fn(c)
		}
		if err == nil || !errors.Is(err, cu.ErrSourceUnavailable) || ctx.Err() != nil {
			return err
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

func (s netSource) client(u string) (*cu.SUClient, error) {
	s.nw.mu.Lock()
	defer s.nw.mu.Unlock()
	if c := s.nw.clients[u]; c != nil {
		return c, nil
	}
	c, err := cu.NewSUClient(u, cu.SUClientOptions{HTTPClient: s.nw.client})
	if err != nil {
		return nil, err
	}
	if len(s.nw.clients) >= maxSchedulerCache {
		clear(s.nw.clients)
	}
	s.nw.clients[u] = c
	return c, nil
}

func (s netSource) Process(ctx context.Context, pid string) (def cu.ProcessDef, err error) {
	err = s.each(ctx, pid, func(c *cu.SUClient) (err error) {
		def, err = c.Process(ctx, pid)
		return err
	})
	if err == nil {
		s.nw.follow(pid)
	}
	return def, err
}

// Scheduled moves on to the next member only while no slot has been delivered from this
// one: a member that fails mid-page leaves the rest to the CU's next pass.
func (s netSource) Scheduled(ctx context.Context, pid string, after int64, fn func(cu.Scheduled) bool) error {
	delivered := false
	return s.each(ctx, pid, func(c *cu.SUClient) error {
		if delivered {
			return nil
		}
		return c.Scheduled(ctx, pid, after, func(sc cu.Scheduled) bool {
			delivered = true
			return fn(sc)
		})
	})
}

func (s netSource) Slot(ctx context.Context, pid, msgID string) (sc cu.Scheduled, err error) {
	err = s.each(ctx, pid, func(c *cu.SUClient) (err error) {
		sc, err = c.Slot(ctx, pid, msgID)
		return err
	})
	return sc, err
}

func (s netSource) Latest(ctx context.Context, pid string) (sc cu.Scheduled, err error) {
	err = s.each(ctx, pid, func(c *cu.SUClient) (err error) {
		sc, err = c.Latest(ctx, pid)
		return err
	})
	return sc, err
}

func (s netSource) Timestamp(ctx context.Context, pid string) (ts int64, h uint64, err error) {
	err = s.each(ctx, pid, func(c *cu.SUClient) (err error) {
		ts, h, err = c.Timestamp(ctx, pid)
		return err
	})
	return ts, h, err
}

// netRouter is the MU's Router on a p2p node: scheduler addresses resolve through the node
// directory; a process whose scheduler is unknown is looked up on every SU the directory
// lists.
type netRouter struct{ nw *network }

func (r netRouter) SchedulerURL(_ context.Context, addr string) (string, error) {
	if u, ok := r.nw.schedulerURL(addr); ok {
		return u, nil
	}
	// Not ErrNotFound: the record may not have reached this node yet, so the MU retries.
	return "", fmt.Errorf("%w: scheduler %s is not in the node directory", mu.ErrUnavailable, addr)
}

func (r netRouter) SchedulerURLs() []string {
	var out []string
	if r.nw.selfSU != "" {
		out = append(out, r.nw.selfSU)
	}
	for _, u := range r.nw.peersWithRole(p2p.RoleSU) {
		out = append(out, u+"/su")
	}
	return out
}

// netCompute is the MU's Compute on a p2p node without a CU: it reads results from the
// CUs of the directory, in peer order, the first that answers.
type netCompute struct{ nw *network }

func (c netCompute) each(fn func(*mu.HTTPClient) error) error {
	cus := c.nw.peersWithRole(p2p.RoleCU)
	if len(cus) == 0 {
		return fmt.Errorf("%w: no CU in the node directory", mu.ErrUnavailable)
	}
	var errs []error
	for _, u := range cus {
		err := fn(&mu.HTTPClient{HTTP: c.nw.client, CUURL: u + "/cu"})
		if err == nil || !errors.Is(err, mu.ErrUnavailable) {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c netCompute) Result(ctx context.Context, pid, id string) (r *mu.Result, err error) {
	err = c.each(func(h *mu.HTTPClient) error {
		r, err = h.Result(ctx, pid, id)
		return err
	})
	return r, err
}

func (c netCompute) Cron(ctx context.Context, pid, from string, limit int) (p *mu.CronPage, err error) {
	err = c.each(func(h *mu.HTTPClient) error {
		p, err = h.Cron(ctx, pid, from, limit)
		return err
	})
	return p, err
}

// cuSource is the CU's schedule source: the directory-routed one on a p2p node, else the SU
// the node runs or names.
func (n *Node) cuSource() (cu.Source, error) {
	if n.net != nil {
		return netSource{n.net}, nil
	}
	return cu.NewSUClient(n.urls.SU, cu.SUClientOptions{HTTPClient: n.client})
}

// muRouter routes the MU's items: through the directory on a p2p node.
func (n *Node) muRouter() mu.Router {
	if n.net != nil {
		return netRouter{n.net}
	}
	return mu.StaticRouter{Default: n.urls.SU}
}

// muCompute is the MU's CU on a p2p node that runs no CU and names none; nil otherwise.
func (n *Node) muCompute() mu.Compute {
	if n.net == nil || n.urls.CU != "" {
		return nil
	}
	return netCompute{n.net}
}

// followWith lets the network wake the node's CU on pushes.
func (n *Node) followWith(c *cu.CU) {
	if n.net == nil || c == nil {
		return
	}
	n.net.mu.Lock()
	n.net.wake = c.Wake
	n.net.mu.Unlock()
}

// netItems is the CU's item look-up on a p2p node: the store, then the peers (a module
// published on another node's gateway is fetched by id and verified).
type netItems struct{ nw *network }

func (i netItems) Item(id string) ([]byte, error) {
	raw, err := i.nw.db.Item(id)
	if !errors.Is(err, store.ErrNotFound) {
		return raw, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	it, ferr := i.nw.fetch(ctx, id)
	if ferr != nil {
		return nil, fmt.Errorf("%w: %s: not in the store, and from peers: %v", store.ErrNotFound, id, ferr)
	}
	return it.Raw(), nil
}

// cuItems is the CU's item look-up: nil (the store) without p2p.
func (n *Node) cuItems() cu.ItemLookup {
	if n.net == nil {
		return nil
	}
	return netItems{n.net}
}
