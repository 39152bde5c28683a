package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
)

// PutSchedulerLocation indexes a Scheduler-Location whose signature the caller has verified
// (the node's own SU, or a peer's from gossip, which p2p verifies), so that the look-up clients
// make (aoapi.SchedulerLocationQuery) answers with it. The gateway keeps one per scheduler:
// a location replaces the held one when it is newer and says something else (Url,
// Time-To-Live), or when the held one is half its Time-To-Live old; the replaced item is
// deleted, so a scheduler that re-signs every minute costs one item, not one a minute. A
// held location without a Timestamp (uploaded by another tool) is older than any with one
// and is left in place. It reports whether it stored the item.
func (g *Gateway) PutSchedulerLocation(ctx context.Context, it *dataitem.Item) (bool, error) {
	loc, err := aoapi.ParseSchedulerLocation(it)
	if err != nil {
		return false, err
	}
	g.locMu.Lock()
	defer g.locMu.Unlock()
	cur, order, curLoc, err := g.heldLocation(loc.Address)
	if err != nil {
		return false, err
	}
	if cur != nil {
		switch {
		case cur.ID() == it.ID(), !loc.Issued.After(curLoc.Issued):
			return false, nil
		case curLoc.URL == loc.URL && curLoc.TTL == loc.TTL && loc.Issued.Sub(curLoc.Issued) < curLoc.TTL/2:
			return false, nil
		}
	}
	b := g.src.NewBatch()
	b.PutParsedItem(it)
	if cur != nil && !curLoc.Issued.IsZero() {
		b.DeleteItem(cur, order)
	}
	if err := g.src.Commit(ctx, b); err != nil {
		return false, fmt.Errorf("gateway: storing scheduler location %s: %w", it.ID(), err)
	}
	g.log.Debug("scheduler location indexed", "scheduler", loc.Address, "url", loc.URL, "id", it.ID())
	return true, nil
}

// heldLocation is the newest Scheduler-Location of address the store holds, nil when none.
func (g *Gateway) heldLocation(address string) (*dataitem.Item, uint64, aoapi.SchedulerLocation, error) {
	refs, err := g.src.QueryItems(store.ItemQuery{
		Owners:     []string{address},
		Tags:       []store.TagFilter{{Name: "Data-Protocol", Values: []string{"ao"}}, {Name: "Type", Values: []string{aoapi.TypeSchedulerLocation}}},
		Descending: true,
		Limit:      1,
	})
	if err != nil || len(refs) == 0 {
		return nil, 0, aoapi.SchedulerLocation{}, err
	}
	it, err := loadItem(g.src, refs[0].ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, aoapi.SchedulerLocation{}, nil
	}
	if err != nil {
		return nil, 0, aoapi.SchedulerLocation{}, err
	}
	loc, err := aoapi.ParseSchedulerLocation(it)
	if err != nil {
		// An item shaped otherwise (uploaded by anyone) is not ours to replace.
		return nil, 0, aoapi.SchedulerLocation{}, nil
	}
	return it, refs[0].Order, loc, nil
}
