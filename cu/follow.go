package cu

// Wake asks the evaluator of pid for a catch-up pass with the source and returns without
// waiting for it. A node following a process by gossip calls it for every push: the pass
// pulls whatever the source has scheduled since the process's position, so a missed or
// reordered push costs nothing but the next pull. A process the source does not know ends
// the pass with a logged error; the CU forgets it again.
func (c *CU) Wake(pid string) error {
	p, err := c.getProc(pid)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err = p.kickLocked()
	return err
}
