// Package migrations holds webhookd's versioned SQL schema, embedded so the
// binary can migrate at start-up or through its `migrate` command.
//
// Files follow bun's migrate naming, <14-digit version>_<name>.<tx.>up|down.sql,
// with `--bun:split` between statements. They are applied by
// adapters/postgres and must not qualify object names with a schema: the
// target schema comes from the connection's search_path, so tests can run
// each in a schema of its own.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
