package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// walSync makes committed transactions durable with an fsync of the
// write-ahead log that runs after the commit, outside SQLite's write lock,
// and is shared by every writer waiting for it: in this process, the
// writers that arrive while one fsync runs share the next one; across
// processes, fsyncs overlap instead of queueing behind the lock.
//
// The store's connections commit with synchronous=NORMAL: in WAL mode a
// commit writes its frames to the log (write(2), no fsync), and one fsync
// of the log file puts every frame written before it on disk, whichever
// connection or process wrote it. That is exactly what synchronous=FULL
// does at commit, under the lock. Checkpoints sync the log before copying
// it into the database and the database after, so frames a checkpoint has
// moved are on disk too, even when the log is later restarted or, after the
// last connection to the file closed, deleted: sync then finds no log, or a
// new one, which it opens (and syncs its directory once, as SQLite does for
// a log it creates).
//
// An fsync that fails leaves the log's state unknown (the kernel may drop
// the pages it could not write): every later sync fails too, and the store
// must be reopened.
type walSync struct {
	path    string               // the -wal file
	fsync   func(*os.File) error // (*os.File).Sync; tests count or block it
	open    func(string) (*os.File, error)
	count   atomic.Int64 // fsyncs run, for tests and benchmarks
	waiting atomic.Int64 // writers waiting in sync, for tests

	mu   sync.Mutex
	f    *os.File   // the log file last opened, nil before the first sync
	cur  *syncRound // the fsync running, nil when none
	next *syncRound // the fsync to run after cur, shared by who arrives meanwhile
	err  error      // sticky: the first fsync error
}

// syncRound is one fsync and the writers waiting for it.
type syncRound struct {
	done chan struct{}
	err  error
}

func newWALSync(dbPath string) *walSync {
	return &walSync{
		path:  dbPath + "-wal",
		fsync: syncData,
		open:  func(p string) (*os.File, error) { return os.OpenFile(p, os.O_RDWR, 0) },
	}
}

// sync returns once an fsync of the log that started after sync was called
// has finished (so every frame committed before the call is on disk). A
// running fsync may have started before the caller's commit, so its
// callers wait for the next one, which starts as soon as the running one
// ends and serves everyone who arrived in between; they stop waiting when
// ctx ends first. When none runs, the caller runs the fsync itself.
func (w *walSync) sync(ctx context.Context) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	if w.cur == nil {
		// No fsync runs: this writer runs one itself, without a handoff
		// to another goroutine (the common case of one writer at a time),
		// and hands the round queued meanwhile, if any, to a goroutine.
		// An fsync cannot be interrupted, so the writer waits for it as it
		// would for one inside SQLite's commit.
		r := &syncRound{done: make(chan struct{})}
		w.cur = r
		w.mu.Unlock()
		w.waiting.Add(1)
		defer w.waiting.Add(-1)
		if next := w.finish(r, w.syncFile()); next != nil {
			go w.run(next)
		}
		return r.err
	}
	if w.next == nil {
		w.next = &syncRound{done: make(chan struct{})}
	}
	r := w.next
	w.mu.Unlock()
	w.waiting.Add(1)
	defer w.waiting.Add(-1)
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the fsync of the write-ahead log: %w", ctx.Err())
	}
}

// run runs round r and then every round queued behind it.
func (w *walSync) run(r *syncRound) {
	for r != nil {
		r = w.finish(r, w.syncFile())
	}
}

// finish ends round r with the fsync's error and makes the round queued
// behind it, if any, the running one, returning it.
func (w *walSync) finish(r *syncRound, err error) *syncRound {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("fsync of the write-ahead log %s failed, so commits may not be on disk; reopen the store: %w", w.path, err)
	}
	r.err = w.err
	close(r.done)
	next := w.next
	w.next = nil
	w.cur = next
	return next
}

// syncFile fsyncs the log file that is at w.path now, opening it first when
// it is not the one open (the first time, or after the log was deleted and
// created again). No log file means no frame waits for a sync: the last
// connection's checkpoint moved them into the database, and synced it.
func (w *walSync) syncFile() error {
	w.count.Add(1)
	cur, err := os.Stat(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if w.f != nil {
		if open, err := w.f.Stat(); err != nil || !os.SameFile(open, cur) {
			w.f.Close()
			w.f = nil
		}
	}
	if w.f == nil {
		f, err := w.open(w.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		// The log's directory entry must be on disk too.
		if err := syncDir(filepath.Dir(w.path)); err != nil {
			f.Close()
			return err
		}
		w.f = f
	}
	return w.fsync(w.f)
}

// syncDir fsyncs a directory, so that the files created in it are found
// after a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// close closes the log file. Rounds still running finish first.
func (w *walSync) close() error {
	w.mu.Lock()
	r := w.next
	if r == nil {
		r = w.cur
	}
	w.mu.Unlock()
	if r != nil {
		<-r.done
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
