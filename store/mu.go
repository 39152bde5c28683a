package store

import "fmt"

// The messenger's records live in its keyspace (KsMUQueue), split by a sub-prefix byte so that
// the MU keeps several kinds of record without claiming more keyspaces:
//
//	KsMUQueue 't' | task key                   -> pending crank task (opaque to store)
//	KsMUQueue 'd' | task key                   -> dead-lettered task (opaque)
//	KsMUQueue 'c' | len(pid) | pid | result id -> marker: this result's outbox was cranked
//	KsMUQueue 'm' | pid                        -> monitored process record (opaque)
//
// A task key is chosen by the MU (a fixed-length digest); store only bounds its length.
const (
	subMUTask    = 't'
	subMUDead    = 'd'
	subMUCranked = 'c'
	subMUMonitor = 'm'
	// MaxMUTaskKeyBytes bounds the MU's task keys.
	MaxMUTaskKeyBytes = 64
)

func muTaskKey(sub byte, key []byte) ([]byte, error) {
	if len(key) == 0 || len(key) > MaxMUTaskKeyBytes {
		return nil, fmt.Errorf("%w: MU task key of %d bytes", ErrInvalidKey, len(key))
	}
	return append([]byte{sub}, key...), nil
}

func muCrankedKey(pid, id string) ([]byte, error) {
	if err := checkPID(pid); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	if !validID(id) {
		return nil, fmt.Errorf("%w: result id of %d bytes", ErrInvalidKey, len(id))
	}
	k := make([]byte, 0, 2+len(pid)+len(id))
	k = append(k, subMUCranked, byte(len(pid)))
	k = append(k, pid...)
	return append(k, id...), nil
}

func muMonitorKey(pid string) ([]byte, error) {
	if err := checkPID(pid); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return append([]byte{subMUMonitor}, pid...), nil
}

// PutMUTask stores a pending crank task under key.
func (b *Batch) PutMUTask(key, value []byte) {
	k, err := muTaskKey(subMUTask, key)
	if err != nil {
		b.setErr(err)
		return
	}
	b.Set(KsMUQueue, k, value)
}

// DeleteMUTask removes a pending crank task.
func (b *Batch) DeleteMUTask(key []byte) {
	k, err := muTaskKey(subMUTask, key)
	if err != nil {
		b.setErr(err)
		return
	}
	b.Delete(KsMUQueue, k)
}

// PutMUDeadTask stores a task the MU gave up on, for operators to inspect.
func (b *Batch) PutMUDeadTask(key, value []byte) {
	k, err := muTaskKey(subMUDead, key)
	if err != nil {
		b.setErr(err)
		return
	}
	b.Set(KsMUQueue, k, value)
}

// PutMUCranked records that the outbox of result id in process pid has been queued.
func (b *Batch) PutMUCranked(pid, id string) {
	k, err := muCrankedKey(pid, id)
	if err != nil {
		b.setErr(err)
		return
	}
	b.Set(KsMUQueue, k, []byte{1})
}

// PutMUMonitor stores the record of a monitored process.
func (b *Batch) PutMUMonitor(pid string, value []byte) {
	k, err := muMonitorKey(pid)
	if err != nil {
		b.setErr(err)
		return
	}
	b.Set(KsMUQueue, k, value)
}

// DeleteMUMonitor stops monitoring pid (a no-op when it is not monitored).
func (b *Batch) DeleteMUMonitor(pid string) {
	k, err := muMonitorKey(pid)
	if err != nil {
		b.setErr(err)
		return
	}
	b.Delete(KsMUQueue, k)
}

// MUTask returns the pending task stored under key (ErrNotFound if none).
func (db *DB) MUTask(key []byte) ([]byte, error) {
	k, err := muTaskKey(subMUTask, key)
	if err != nil {
		return nil, err
	}
	return db.Get(KsMUQueue, k)
}

// MUTasks calls fn for every pending task in key order; fn returns false to stop. The slices
// are only valid during the call.
func (db *DB) MUTasks(fn func(key, value []byte) bool) error {
	return db.scanMU(subMUTask, fn)
}

// MUDeadTasks calls fn for every dead-lettered task in key order.
func (db *DB) MUDeadTasks(fn func(key, value []byte) bool) error {
	return db.scanMU(subMUDead, fn)
}

func (db *DB) scanMU(sub byte, fn func(key, value []byte) bool) error {
	return db.Scan(KsMUQueue, []byte{sub}, nil, false, func(k, v []byte) bool {
		return fn(k[1:], v)
	})
}

// MUCranked reports whether the outbox of result id in process pid has been queued.
func (db *DB) MUCranked(pid, id string) (bool, error) {
	k, err := muCrankedKey(pid, id)
	if err != nil {
		return false, err
	}
	return db.Has(KsMUQueue, k)
}

// MUMonitor returns the record of monitored process pid (ErrNotFound if not monitored).
func (db *DB) MUMonitor(pid string) ([]byte, error) {
	k, err := muMonitorKey(pid)
	if err != nil {
		return nil, err
	}
	return db.Get(KsMUQueue, k)
}

// MUMonitors calls fn for every monitored process in id order.
func (db *DB) MUMonitors(fn func(pid string, value []byte) bool) error {
	return db.Scan(KsMUQueue, []byte{subMUMonitor}, nil, false, func(k, v []byte) bool {
		return fn(string(k[1:]), v)
	})
}
