package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/webhookd/webhookd/internal/env"
	"github.com/webhookd/webhookd/wiring"
)

// slowStore is how long migrate works in silence before it says what it
// is waiting for: PostgreSQL's connect retries last DB_CONNECT_TIMEOUT_MS
// (30 s by default), which looked like a hang.
const slowStore = 2 * time.Second

func newMigrateCmd(lookup env.Lookup) *cobra.Command {
	step := func(direction, short string) *cobra.Command {
		return &cobra.Command{Use: direction, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return migrate(cmd, lookup, direction) }}
	}
	m := &cobra.Command{
		Use:   "migrate [up|down|status]",
		Short: "Migrate the store's schema (alone: up)",
		Long: `migrate applies the schema's pending migrations (up, the default), rolls back the last
group applied (down), or lists them (status), on the store DATABASE_URL (or STORE) names.
It reads only the database variables. On SQLite it needs the file to itself: stop the
dispatcher first. STORE=memory has no schema: there is nothing to migrate.`,
		Args: noCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return migrate(cmd, lookup, "up") },
	}
	m.AddCommand(step("up", "Apply every pending migration"),
		step("down", "Roll back the last group of migrations applied together"),
		step("status", "List the migrations and whether each is applied"))
	return m
}

func migrate(cmd *cobra.Command, lookup env.Lookup, direction string) error {
	db, err := wiring.LoadDatabaseConfig(lookup)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if db.Store == wiring.StorePostgres {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			select {
			case <-done:
			case <-time.After(slowStore):
				fmt.Fprintf(cmd.ErrOrStderr(), "dispatcher: migrate: still waiting for %s: connecting retries for up to %s "+
					"(DB_CONNECT_TIMEOUT_MS), and another process's migration holds the lock until it ends; Ctrl-C stops\n",
					db.Describe(), db.DB.ConnectTimeout)
			}
		})
		defer wg.Wait() // so that nothing writes to stderr after migrate returns
		defer close(done)
	}
	return wiring.Migrate(cmd.Context(), db, direction, cmd.OutOrStdout())
}
