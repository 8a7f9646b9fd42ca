// Package migrations holds webhookd's versioned SQL schema, one directory
// per database, embedded so the binary migrates at start-up or through its
// `migrate` command, and the few steps both stores take to apply it.
//
// Files follow bun's migrate naming,
// <14-digit version>_<name>.<tx.>up|down.sql, with `--bun:split` between
// statements.
// Both schemas keep the same tables, columns and indexes; only types differ
// (SQLite has no uuid, timestamptz or bytea), and PostgreSQL's storage
// choices for its hot path (deliveries' fillfactor, attempts keyed by
// (delivery_id, id), deliveries found by event through their key and a
// partial index, neither checked by a foreign key) have no SQLite
// counterpart: there an attempt's rowid is its key, a row's update costs
// no entry in an index whose key it keeps, and a foreign key check is an
// in-process lookup. PostgreSQL files must not qualify object names
// with a schema: the target schema comes from the connection's search_path,
// so tests can run each in a schema of its own.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Postgres holds the PostgreSQL migrations.
func Postgres() fs.FS { return sub("postgres") }

// SQLite holds the SQLite migrations.
func SQLite() fs.FS { return sub("sqlite") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the directory is embedded above: cannot happen
	}
	return f
}
