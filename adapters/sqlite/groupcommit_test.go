package sqlite

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/uptrace/bun"
)

// A write that fails is rolled back alone; its neighbours in the same
// group commit; and concurrent writes share transactions.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	if _, err := db.Write.ExecContext(t.Context(), "CREATE TABLE gc (n INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	const writes = 200
	boom := errors.New("refused")
	var wg sync.WaitGroup
	errs := make([]error, writes)
	for i := range writes {
		wg.Go(func() {
			errs[i] = db.commits.write(t.Context(), func(ctx context.Context, tx bun.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO gc (n) VALUES (?)", i); err != nil {
					return err
				}
				if i%3 == 0 {
					return boom // after writing: its row must vanish, alone
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (i%3 == 0) != errors.Is(err, boom) || (i%3 != 0 && err != nil) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	var rows, refused int
	if err := db.Read.QueryRowContext(t.Context(), "SELECT count(*), count(*) FILTER (WHERE n % 3 = 0) FROM gc").Scan(&rows, &refused); err != nil {
		t.Fatal(err)
	}
	if want := writes - (writes+2)/3; rows != want || refused != 0 {
		t.Errorf("%d rows (%d of refused writes), want %d and 0", rows, refused, want)
	}
	if g := db.commits.groups.Load(); g >= writes {
		t.Errorf("%d writes took %d transactions: nothing was grouped", writes, g)
	} else {
		t.Logf("%d concurrent writes committed in %d transactions", writes, g)
	}
}

// A write whose caller gave up before it ran is not made.
func TestGroupCommitSkipsAbandonedWrites(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	if _, err := db.Write.ExecContext(t.Context(), "CREATE TABLE gc (n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	err := db.commits.write(ctx, func(context.Context, bun.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Errorf("write with a cancelled context: %v, ran %v; want context.Canceled and not run", err, ran)
	}
}

func TestGroupCommitAfterClose(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	db.commits.close()
	err := db.commits.write(t.Context(), func(context.Context, bun.Tx) error { return nil })
	if !errors.Is(err, errClosed) {
		t.Errorf("write after close: %v, want errClosed", err)
	}
	db.commits.close() // twice is fine
}
