// Package logfile opens the file LOG_FILE names, for the dispatcher and the
// mock receiver alike: private to its owner, appended to, its directory
// created if needed.
package logfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Open opens path for appending, creating it and its directory. Logs name
// events, targets and errors, so the file is made (or made again) readable
// by its owner only, 0600, and a directory it creates is 0700.
func Open(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("LOG_FILE: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("LOG_FILE: %w", err)
	}
	// A file an earlier version created 0644 is tightened too.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("LOG_FILE: %w", err)
	}
	return f, nil
}
