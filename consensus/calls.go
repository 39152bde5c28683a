package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/su"
	"github.com/hashicorp/raft"
)

// Call kinds and answer statuses of CallProtocol.
const (
	callForward  = 1
	callAnnounce = 2
	// callForwardBatch carries several forwarded writes at once: a follower sends what queued
	// up while its previous call was out, so a busy follower opens one stream per batch.
	callForwardBatch = 3
	maxForwardBatch  = 256

	statusOK      = 0
	statusRefused = 1
	statusRetry   = 2
	statusError   = 3
)

// refusalReasons are the su refusals a leader's answer can carry, by code (index).
var refusalReasons = []error{
	su.ErrInvalidItem, su.ErrDuplicate, su.ErrUnknownProcess, su.ErrNotHeld, su.ErrWrongScheduler,
	su.ErrNotFound, su.ErrUnsupported, su.ErrRequestTooLarge,
}

const maxExclude = 64

var errBadCall = errors.New("consensus: malformed call")

type enc struct{ b []byte }

func (e *enc) bytes(v []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *enc) str(v string) { e.bytes([]byte(v)) }

type dec struct {
	b   []byte
	err error
}

func (d *dec) bytes(limit int) []byte {
	if d.err != nil {
		return nil
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(limit) || n > uint64(len(d.b)-k) {
		d.err = errBadCall
		return nil
	}
	v := d.b[k : k+int(n)]
	d.b = d.b[k+int(n):]
	return v
}

func (d *dec) str(limit int) string { return string(d.bytes(limit)) }

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.err = errBadCall
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *dec) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errBadCall
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func encodeForward(group string, req su.Request) []byte {
	e := &enc{b: []byte{callForward}}
	e.str(group)
	encodeRequest(e, req)
	return e.b
}

func encodeForwardBatch(group string, reqs []su.Request) []byte {
	e := &enc{b: []byte{callForwardBatch}}
	e.str(group)
	e.b = binary.AppendUvarint(e.b, uint64(len(reqs)))
	for _, r := range reqs {
		encodeRequest(e, r)
	}
	return e.b
}

func encodeRequest(e *enc, req su.Request) {
	e.str(req.Process)
	e.str(req.Message)
	e.b = binary.AppendUvarint(e.b, uint64(len(req.Exclude)))
	for _, x := range req.Exclude {
		e.str(x)
	}
	var raw []byte
	if req.Item != nil {
		raw = req.Item.Raw()
	}
	e.bytes(raw)
}

func encodeAnnounce(process []byte) []byte {
	e := &enc{b: []byte{callAnnounce}}
	e.bytes(process)
	return e.b
}

func answer(status byte, fill func(e *enc)) []byte {
	e := &enc{b: []byte{status}}
	if fill != nil {
		fill(e)
	}
	return e.b
}

// handleCall answers another node's call. from is authenticated by the network; every call
// is still checked against the set it is about.
func (m *Manager) handleCall(ctx context.Context, from string, req []byte) ([]byte, error) {
	d := &dec{b: req}
	switch d.byte() {
	case callAnnounce:
		raw := d.bytes(maxItemBytes)
		if d.err != nil || len(d.b) != 0 {
			return answer(statusError, func(e *enc) { e.str("malformed announce") }), nil
		}
		if err := m.learn(from, raw); err != nil {
			return answer(statusError, func(e *enc) { e.str(err.Error()) }), nil
		}
		return answer(statusOK, nil), nil
	case callForward:
		return m.serveForward(ctx, from, d), nil
	case callForwardBatch:
		return m.serveForwardBatch(ctx, from, d), nil
	}
	return answer(statusError, func(e *enc) { e.str("unknown call") }), nil
}

// learn starts the group a Process announced by another member defines.
func (m *Manager) learn(from string, raw []byte) error {
	it, err := dataitem.ParseVerified(raw)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	set := aoapi.Schedulers(it.Tags)
	if len(set) < 2 || len(set) > aoapi.MaxSchedulers || !slices.Contains(set, from) || !slices.Contains(set, m.self) {
		return fmt.Errorf("announce: process %s does not name both %s and %s", it.ID(), from, m.self)
	}
	_, err = m.group(set, it.ID(), raw)
	return err
}

// decodeRequest reads one forwarded request; raw is its item's bytes (nil for an assign).
func decodeRequest(d *dec) (su.Request, []byte) {
	req := su.Request{Process: d.str(64), Message: d.str(64)}
	n := d.uvarint()
	if n > maxExclude {
		d.err = errBadCall
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		req.Exclude = append(req.Exclude, d.str(256))
	}
	return req, d.bytes(maxItemBytes)
}

// serveForward proposes a write a follower forwarded. It does not forward again: a member
// that no longer leads answers "retry", and the follower asks the leader it sees next.
func (m *Manager) serveForward(ctx context.Context, from string, d *dec) []byte {
	gid := d.str(64)
	req, raw := decodeRequest(d)
	if d.err != nil || len(d.b) != 0 {
		return answer(statusError, func(e *enc) { e.str("malformed forward") })
	}
	return m.serveOne(ctx, from, gid, req, raw)
}

// serveForwardBatch proposes a batch of forwarded writes together (they share entries) and
// answers each.
func (m *Manager) serveForwardBatch(ctx context.Context, from string, d *dec) []byte {
	gid := d.str(64)
	n := d.uvarint()
	if n == 0 || n > maxForwardBatch {
		d.err = errBadCall
	}
	type one struct {
		req su.Request
		raw []byte
	}
	var reqs []one
	for i := uint64(0); i < n && d.err == nil; i++ {
		req, raw := decodeRequest(d)
		reqs = append(reqs, one{req, raw})
	}
	if d.err != nil || len(d.b) != 0 {
		return answer(statusError, func(e *enc) { e.str("malformed forward batch") })
	}
	answers := make([][]byte, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = m.serveOne(ctx, from, gid, r.req, r.raw)
		}()
	}
	wg.Wait()
	return answer(statusOK, func(e *enc) {
		e.b = binary.AppendUvarint(e.b, uint64(len(answers)))
		for _, a := range answers {
			e.bytes(a)
		}
	})
}

func (m *Manager) serveOne(ctx context.Context, from, gid string, req su.Request, raw []byte) []byte {
	retryAnswer := func(msg string) []byte { return answer(statusRetry, func(e *enc) { e.str(msg) }) }
	if len(raw) > 0 {
		it, err := dataitem.ParseVerified(raw)
		if err != nil {
			return answer(statusRefused, func(e *enc) { e.b = append(e.b, 0); e.str("Invalid data item: " + err.Error()) })
		}
		req.Item = it
		req.Message = ""
	}
	m.mu.Lock()
	g := m.groups[gid]
	m.mu.Unlock()
	if g == nil && req.Item != nil && req.Item.ID() == req.Process {
		// The first write of a new set may arrive before its announcement.
		if err := m.learn(from, raw); err != nil {
			return answer(statusError, func(e *enc) { e.str(err.Error()) })
		}
		m.mu.Lock()
		g = m.groups[gid]
		m.mu.Unlock()
	}
	if g == nil {
		return retryAnswer("unknown group")
	}
	if !slices.Contains(g.members, from) {
		return answer(statusError, func(e *enc) { e.str("not a member") })
	}
	if g.raft.State() != raft.Leader {
		return retryAnswer("not the leader")
	}
	res, index, err := g.propose(ctx, req)
	if err != nil {
		var refused *su.RefusedError
		if errors.As(err, &refused) {
			code := slices.IndexFunc(refusalReasons, func(r error) bool { return errors.Is(err, r) })
			return answer(statusRefused, func(e *enc) { e.b = append(e.b, byte(max(code, 0))); e.str(refused.Msg) })
		}
		return retryAnswer(err.Error())
	}
	return answer(statusOK, func(e *enc) {
		e.b = binary.AppendUvarint(e.b, index)
		e.bytes(res.Assignment.Raw())
	})
}

// fwdReq is a write waiting to be forwarded in the next batch.
type fwdReq struct {
	req    su.Request
	leader string
	done   chan struct{}
	resp   []byte
	err    error
}

// forwarders is how many forward batches a follower has out at once per group.
const forwarders = 4

// forwarder sends the queued writes to the leader in batches.
func (g *group) forwarder() {
	defer g.wg.Done()
	for {
		var first *fwdReq
		select {
		case <-g.ctx.Done():
			return
		case first = <-g.fwd:
		}
		batch := []*fwdReq{first}
	more:
		for len(batch) < maxForwardBatch {
			select {
			case f := <-g.fwd:
				if f.leader != first.leader {
					f.finish(nil, retry("leader changed"))
					continue
				}
				batch = append(batch, f)
			default:
				break more
			}
		}
		g.sendBatch(first.leader, batch)
	}
}

func (f *fwdReq) finish(resp []byte, err error) {
	f.resp, f.err = resp, err
	close(f.done)
}

func (g *group) sendBatch(leader string, batch []*fwdReq) {
	ctx, cancel := context.WithTimeout(g.ctx, g.m.opts.WriteTimeout)
	defer cancel()
	if len(batch) == 1 {
		resp, err := g.m.opts.Network.Call(ctx, leader, encodeForward(g.id, batch[0].req))
		batch[0].finish(resp, err)
		return
	}
	reqs := make([]su.Request, len(batch))
	for i, f := range batch {
		reqs[i] = f.req
	}
	resp, err := g.m.opts.Network.Call(ctx, leader, encodeForwardBatch(g.id, reqs))
	if err != nil {
		for _, f := range batch {
			f.finish(nil, err)
		}
		return
	}
	d := &dec{b: resp}
	status := d.byte()
	n := d.uvarint()
	if d.err != nil || status != statusOK || n != uint64(len(batch)) {
		for _, f := range batch {
			f.finish(resp, nil) // the leader's error answer, for each
		}
		return
	}
	for _, f := range batch {
		a := d.bytes(maxCallBytes)
		if d.err != nil {
			f.finish(nil, errBadCall)
			continue
		}
		f.finish(a, nil)
	}
}

// forward sends req to the leader and returns its answer once this member has applied the
// entry too (so that a client reading here next sees its slot), or after a short wait.
func (g *group) forward(ctx context.Context, leader string, req su.Request) (su.Scheduled, error) {
	f := &fwdReq{req: req, leader: leader, done: make(chan struct{})}
	select {
	case g.fwd <- f:
	case <-ctx.Done():
		return su.Scheduled{}, ctx.Err()
	case <-g.ctx.Done():
		return su.Scheduled{}, retry("group stopped")
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return su.Scheduled{}, ctx.Err()
	case <-g.ctx.Done():
		return su.Scheduled{}, retry("group stopped")
	}
	resp, err := f.resp, f.err
	if err != nil {
		g.m.countForward("unreachable")
		return su.Scheduled{}, retry("forward to %s: %v", leader, err)
	}
	d := &dec{b: resp}
	switch d.byte() {
	case statusOK:
		index := d.uvarint()
		raw := d.bytes(maxAssignmentBytes)
		if d.err != nil {
			return su.Scheduled{}, retry("forward: malformed answer")
		}
		a, err := dataitem.Parse(raw)
		if err != nil {
			return su.Scheduled{}, retry("forward: %v", err)
		}
		s, err := su.SlotFromAssignment(a)
		if err != nil {
			return su.Scheduled{}, retry("forward: %v", err)
		}
		if index > 0 {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = g.fsm.waitApplied(wctx, index)
			cancel()
		}
		g.m.countForward("ok")
		return su.Scheduled{Slot: s, Assignment: a}, nil
	case statusRefused:
		code := int(d.byte())
		msg := d.str(4096)
		reason := su.ErrInvalidItem
		if code < len(refusalReasons) {
			reason = refusalReasons[code]
		}
		g.m.countForward("refused")
		return su.Scheduled{}, su.Refuse(reason, "%s", msg)
	case statusRetry:
		g.m.countForward("retry")
		return su.Scheduled{}, retry("leader %s: %s", leader, d.str(4096))
	default:
		g.m.countForward("error")
		return su.Scheduled{}, retry("leader %s: %s", leader, d.str(4096))
	}
}

func (m *Manager) countForward(outcome string) {
	if m.metrics != nil {
		m.metrics.forwarded.WithLabelValues(outcome).Inc()
	}
}
