package sqlitestore

import (
	"os"
	"syscall"
)

// syncData puts f's data on disk with fdatasync(2), as SQLite syncs its
// write-ahead log on Linux: the file's size is flushed with it, its times
// are not.
func syncData(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
