package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

func TestInterpretError(t *testing.T) {
	t.Parallel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "refused"}}
	for _, tc := range []struct {
		name        string
		err         error
		notFound    bool
		unavailable bool
	}{
		{"no rows", sql.ErrNoRows, true, false},
		{"eof", io.EOF, false, true},
		{"unexpected eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), false, true},
		{"bad conn", driver.ErrBadConn, false, true},
		{"conn done", sql.ErrConnDone, false, true},
		{"deadline", context.DeadlineExceeded, false, true},
		{"dial", dial, false, true},
		{"refused", fmt.Errorf("x: %w", syscall.ECONNREFUSED), false, true},
		{"reset", fmt.Errorf("x: %w", syscall.ECONNRESET), false, true},
		{"closed", net.ErrClosed, false, true},
		{"canceled by caller", context.Canceled, false, false},
		{"other", errors.New("syntax error"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := interpretError("op", tc.err)
			if errors.Is(got, core.ErrNotFound) != tc.notFound || errors.Is(got, core.ErrUnavailable) != tc.unavailable {
				t.Errorf("interpretError(%v) = %v: notFound %v unavailable %v, want %v %v", tc.err, got,
					errors.Is(got, core.ErrNotFound), errors.Is(got, core.ErrUnavailable), tc.notFound, tc.unavailable)
			}
			if !strings.HasPrefix(got.Error(), "postgres: op: ") {
				t.Errorf("message %q lacks the prefix", got)
			}
		})
	}
	if interpretError("op", nil) != nil {
		t.Error("interpretError(nil) != nil")
	}
}

// closedPort returns a 127.0.0.1 port with nothing listening on it.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	cfg := Config{DSN: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/webhookd?sslmode=disable", closedPort(t)),
		ConnectTimeout: 300 * time.Millisecond}
	cfg.setDefaults()
	db, err := newDB(cfg) // lazily: no connection yet
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s := newStoreOn(t, db, cfg)
	ctx := t.Context()
	_, insertErr := s.Insert(ctx, ports.InsertParams{Event: porttest.NewEvent(t, "https://m.example/x", `{}`)})
	_, claimErr := s.Claim(ctx, ports.ClaimParams{Worker: "w", Limit: 1, Lease: time.Second, MaxAttempts: 1})
	_, getErr := s.Get(ctx, core.NewEventID(time.Now()))
	for name, err := range map[string]error{"Ping": s.Ping(ctx), "Insert": insertErr, "Claim": claimErr, "Get": getErr} {
		if !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", name, err)
		}
	}

	start := time.Now()
	_, _, err = Open(ctx, cfg)
	if !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("Open: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took < cfg.ConnectTimeout || took > 5*time.Second {
		t.Errorf("Open gave up after %s; want about ConnectTimeout (%s)", took, cfg.ConnectTimeout)
	}
}

// A dispatcher started before its database waits for it: the first
// connections are dropped, as by a server still booting, and Open keeps
// trying until one gets through.
func TestOpenWaitsForTheDatabase(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(requireDB(t))
	if err != nil {
		t.Fatal(err)
	}
	upstream := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = ln.Addr().String()
	const booting = 3
	var dropped atomic.Int32
	go proxy(t, ln, upstream, func() bool { return dropped.Add(1) <= booting })

	db, closeDB, err := Open(t.Context(), Config{DSN: u.String(), ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer closeDB()
	if n := dropped.Load(); n <= booting {
		t.Errorf("Open returned after %d connection attempts, before the database was up (attempt %d)", n, booting+1)
	}
	if err := db.PingContext(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// proxy forwards TCP connections from ln to upstream until t ends; a
// connection for which drop returns true is closed at once instead.
func proxy(t *testing.T, ln net.Listener, upstream string, drop func() bool) {
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if drop() {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		mu.Lock()
		conns = append(conns, c, up)
		mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

func TestOpenFailsFastWhenWaitingCannotHelp(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(requireDB(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_database"
	start := time.Now()
	_, _, err = Open(t.Context(), Config{DSN: u.String(), ConnectTimeout: 10 * time.Second})
	if err == nil || errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "3D000") {
		t.Errorf("Open(unknown database) = %v; want a plain 3D000 error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Open retried for %s an error that waiting cannot cure", took)
	}
}

func TestStatementTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.StatementTimeout = 50 * time.Millisecond
	db := openDB(t, cfg)
	ctx := t.Context()
	var setting string
	if err := db.NewRaw("SHOW statement_timeout").Scan(ctx, &setting); err != nil || setting != "50ms" {
		t.Errorf("statement_timeout = %q, %v; want 50ms", setting, err)
	}
	_, err := db.ExecContext(ctx, "SELECT pg_sleep(2)")
	if err := interpretError("sleep", err); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("a statement past its timeout: %v, want ErrUnavailable", err)
	}
}

func TestInsertDuplicateIDIsConflict(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	e := porttest.NewEvent(t, "https://m.example/hook", `{}`)
	ctx := t.Context()
	if _, err := s.Insert(ctx, ports.InsertParams{Event: e}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Insert(ctx, ports.InsertParams{Event: e})
	var conflict *core.ConflictError
	if !errors.As(err, &conflict) || conflict.Code != "duplicate_id" {
		t.Errorf("second Insert of %s: %v, want a duplicate_id conflict", e.ID, err)
	}
}
