// Command mock-receiver is the chaos merchant endpoint for demos, tests and
// benchmarks: see package receiver for the behaviour and the environment
// variables.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/webhookd/webhookd/cmd/mock-receiver/receiver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.LookupEnv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mock-receiver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, lookup func(string) (string, bool)) error {
	cfg, err := receiver.LoadConfig(lookup)
	if err != nil {
		return err
	}
	return receiver.Run(ctx, cfg, os.Stdout)
}
