//go:build !linux

package sqlitestore

import "os"

// syncData puts f's data on disk: (*os.File).Sync, which on macOS is
// F_FULLFSYNC.
func syncData(f *os.File) error { return f.Sync() }
