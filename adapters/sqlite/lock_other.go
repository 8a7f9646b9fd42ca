//go:build !unix

package sqlite

import (
	"fmt"
	"os"
)

// lockFile creates the lock file but cannot lock it on this platform: run
// one dispatcher per file by hand.
func lockFile(path, _ string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	return f, nil
}
