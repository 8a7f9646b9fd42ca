// Package logfile opens the file LOG_FILE names, for the dispatcher and the
// mock receiver alike: private to its owner, appended to, its directory
// created if needed, and rotated by size (gopkg.in/natefinch/lumberjack.v2).
package logfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Rotation says when the file is rotated and which rotated files are
// kept. A rotated file sits next to it, named after it with the time of
// the rotation: dispatcher.log becomes dispatcher-2025-01-02T03-04-05.000.log.
type Rotation struct {
	MaxMB      int // LOG_FILE_MAX_MB: rotate before the file would exceed this many MiB; ≥ 1
	MaxBackups int // LOG_FILE_MAX_BACKUPS: rotated files kept, newest first; 0 keeps all
	MaxAgeDays int // LOG_FILE_MAX_AGE_DAYS: rotated files older than this are deleted; 0: no age limit
}

// DefaultRotation rotates at 100 MiB and keeps 5 rotated files, whatever
// their age.
func DefaultRotation() Rotation { return Rotation{MaxMB: 100, MaxBackups: 5} }

// Validate reports a rotation lumberjack would misread.
func (r Rotation) Validate() error {
	switch {
	case r.MaxMB < 1:
		return fmt.Errorf("LOG_FILE_MAX_MB must be ≥ 1, got %d", r.MaxMB)
	case r.MaxBackups < 0:
		return fmt.Errorf("LOG_FILE_MAX_BACKUPS must be ≥ 0, got %d", r.MaxBackups)
	case r.MaxAgeDays < 0:
		return fmt.Errorf("LOG_FILE_MAX_AGE_DAYS must be ≥ 0, got %d", r.MaxAgeDays)
	}
	return nil
}

// Open returns a writer appending to path, creating it and its directory,
// that rotates the file as rot says. Logs name events, targets and errors,
// so the file is made (or made again) readable by its owner only, 0600,
// and a directory it creates is 0700. Rotated files keep that mode:
// lumberjack renames the file aside and creates the next one with the
// mode of the one it replaces. The file is opened here, so that a path
// that cannot be written fails the start rather than the first line.
func Open(path string, rot Rotation) (io.WriteCloser, error) {
	if err := rot.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("LOG_FILE: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("LOG_FILE: %w", err)
	}
	// A file an earlier version created 0644 is tightened too, before
	// lumberjack copies its mode to the next one.
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("LOG_FILE: %w", err)
	}
	lj := &lumberjack.Logger{Filename: path, MaxSize: rot.MaxMB, MaxBackups: rot.MaxBackups, MaxAge: rot.MaxAgeDays}
	// Open the file now (an empty write opens it, rotating it first if
	// it is already full), not on the first log line.
	if _, err := lj.Write(nil); err != nil {
		return nil, errors.Join(fmt.Errorf("LOG_FILE: %w", err), lj.Close())
	}
	return lj, nil
}
