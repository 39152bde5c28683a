package mu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aonode/aonode/store"
)

// monitorRecord is what the MU keeps per monitored process: where its cron results were read
// up to (the CU's cursor of the last cranked evaluation; empty = from the start).
type monitorRecord struct {
	Cursor string `json:"cursor,omitempty"`
	Since  int64  `json:"since"`
}

// maxCronPagesPerPoll bounds the work one poll does for one process, so that a process with a
// long backlog does not starve the others; the rest is read at the next tick.
const maxCronPagesPerPoll = 20

// Monitor starts ticking pid's crons (durably: it survives restarts).
func (m *MU) Monitor(ctx context.Context, pid string) error {
	m.monMu.Lock()
	defer m.monMu.Unlock()
	if _, err := m.db.MUMonitor(pid); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	enc, err := json.Marshal(monitorRecord{Since: m.cfg.Clock.Now().UnixMilli()})
	if err != nil {
		return err
	}
	b := m.db.NewBatch()
	b.PutMUMonitor(pid, enc)
	if err := m.db.Commit(ctx, b); err != nil {
		return fmt.Errorf("mu: saving monitor of %s: %w", pid, err)
	}
	m.log.Info("monitoring process", "process", pid)
	select {
	case m.cronWake <- struct{}{}:
	default:
	}
	return nil
}

// Unmonitor stops ticking pid's crons.
func (m *MU) Unmonitor(ctx context.Context, pid string) error {
	m.monMu.Lock()
	defer m.monMu.Unlock()
	b := m.db.NewBatch()
	b.DeleteMUMonitor(pid)
	if err := m.db.Commit(ctx, b); err != nil {
		return fmt.Errorf("mu: removing monitor of %s: %w", pid, err)
	}
	m.log.Info("stopped monitoring process", "process", pid)
	return nil
}

func (m *MU) cronLoop() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.cfg.Clock.After(m.cfg.CronInterval):
		case <-m.cronWake:
		}
		var pids []string
		err := m.db.MUMonitors(func(pid string, _ []byte) bool {
			pids = append(pids, pid)
			return true
		})
		if err != nil {
			m.log.Error("listing monitored processes", "error", err)
			continue
		}
		for _, pid := range pids {
			if m.ctx.Err() != nil {
				return
			}
			m.pollCron(pid)
		}
	}
}

// pollCron reads pid's new cron results and queues their outboxes, committing the tasks of a
// page together with the cursor that follows it, so a page is cranked once whatever happens.
func (m *MU) pollCron(pid string) {
	for range maxCronPagesPerPoll {
		raw, err := m.db.MUMonitor(pid)
		if err != nil {
			return // unmonitored meanwhile, or a storage error the next tick retries
		}
		var rec monitorRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			m.log.Error("corrupt monitor record; restarting it from the first cron result", "process", pid, "error", err)
			rec = monitorRecord{}
		}
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.RequestTimeout)
		page, err := m.comp.Cron(ctx, pid, rec.Cursor, m.cfg.CronPageSize)
		if err != nil {
			cancel()
			m.met.cron.WithLabelValues("error").Inc()
			if m.ctx.Err() == nil {
				m.log.Warn("polling cron results", "process", pid, "error", err)
			}
			return
		}
		var tasks []queued
		cursor := rec.Cursor
		for _, edge := range page.Edges {
			if edge.Cursor == "" {
				break
			}
			seed := deriveKey("cron", []byte(pid), []byte(edge.Cursor))
			node := edge.Node
			qs, err := m.crank(ctx, pid, &node, "", seed[:])
			if err != nil {
				m.log.Warn("cranking a cron result", "process", pid, "error", err)
				break
			}
			tasks = append(tasks, qs...)
			cursor = edge.Cursor
		}
		cancel()
		m.met.cron.WithLabelValues("ok").Inc()
		if cursor == rec.Cursor {
			return
		}
		if !m.commitCron(pid, rec, cursor, tasks) {
			return
		}
		if !page.PageInfo.HasNextPage {
			return
		}
	}
}

func (m *MU) commitCron(pid string, rec monitorRecord, cursor string, tasks []queued) bool {
	m.monMu.Lock()
	defer m.monMu.Unlock()
	if _, err := m.db.MUMonitor(pid); err != nil {
		return false // DELETE /monitor won the race: nothing more for this process
	}
	rec.Cursor = cursor
	enc, err := json.Marshal(rec)
	if err != nil {
		return false
	}
	b := m.db.NewBatch()
	for _, q := range tasks {
		v, err := q.t.encode()
		if err != nil {
			m.log.Error("encoding cron task", "process", pid, "error", err)
			return false
		}
		b.PutMUTask(q.key[:], v)
	}
	b.PutMUMonitor(pid, enc)
	if err := m.db.Commit(m.ctx, b); err != nil {
		if m.ctx.Err() == nil {
			m.log.Error("committing cron results", "process", pid, "error", err)
		}
		return false
	}
	m.enqueue(tasks)
	return true
}
