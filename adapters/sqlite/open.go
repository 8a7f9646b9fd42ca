package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is an open store file: one writing connection, a pool of reading ones,
// and the lock that keeps other processes out.
type DB struct {
	// Write has exactly one connection, and every transaction on it begins
	// IMMEDIATE (takes the write lock at once): writes queue in the pool
	// instead of failing with SQLITE_BUSY, and a transaction that reads
	// before it writes is never overtaken.
	Write *bun.DB
	// Read serves queries (query_only): in WAL mode they see the last
	// commit and never wait for the writer.
	Read *bun.DB
	Path string
	lock *os.File
	// commits groups the store's writes into shared transactions.
	commits *committer
}

// Open creates (if needed) and opens the store at cfg.Path, after taking
// the file's lock, and returns it with a func that closes it. It does not
// migrate: see MigrateUp.
func Open(ctx context.Context, cfg Config) (*DB, func(), error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: path %s: %w", cfg.Path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	lock, err := lockFile(path+".lock", path)
	if err != nil {
		return nil, nil, err
	}
	db := &DB{Path: path, lock: lock}
	if err := db.open(ctx, cfg); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, db.Close, nil
}

func (db *DB) open(ctx context.Context, cfg Config) error {
	// Created here, not by SQLite, so that it is 0600 from the start.
	f, err := os.OpenFile(db.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", db.Path, err)
	}
	f.Close()

	busy := fmt.Sprintf("_busy_timeout=%d", cfg.BusyTimeout.Milliseconds())
	// synchronous=FULL: every commit is fsynced before it returns, so a 202
	// survives a power cut, not only a crash (NORMAL would risk the last
	// commits). WAL: readers never block the writer or each other.
	db.Write = open(db.Path, 1, busy, "_txlock=immediate", "_journal_mode=WAL", "_synchronous=FULL", "_foreign_keys=1")
	db.Read = open(db.Path, cfg.MaxReaders, busy, "_foreign_keys=1", "_pragma=query_only(1)")
	var mode string
	if err := db.Write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return interpretError("open "+db.Path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: %s: journal mode is %q, not WAL (is it on a network file system?)", db.Path, mode)
	}
	if err := db.Read.PingContext(ctx); err != nil {
		return interpretError("open "+db.Path, err)
	}
	db.commits = newCommitter(db.Write)
	return nil
}

func open(path string, conns int, params ...string) *bun.DB {
	sqldb, _ := sql.Open("sqlite", "file:"+path+"?"+strings.Join(params, "&")) // never fails: it only records the DSN
	sqldb.SetMaxOpenConns(conns)
	sqldb.SetMaxIdleConns(conns)
	sqldb.SetConnMaxLifetime(0)
	return bun.NewDB(sqldb, sqlitedialect.New())
}

// Close finishes the queued writes, closes both pools, then releases the
// lock.
func (db *DB) Close() {
	if db.commits != nil {
		db.commits.close()
	}
	for _, pool := range []*bun.DB{db.Read, db.Write} {
		if pool != nil {
			_ = pool.Close()
		}
	}
	if db.lock != nil {
		_ = db.lock.Close()
	}
}
