// Command dispatcher runs webhookd: the API and/or the delivery worker
// (ROLE or -role: all, api, worker), `dispatcher migrate up|down|status`,
// `dispatcher healthcheck` (exit 0 when the local process is ready), or
// `dispatcher secret` (the whsec_ secrets merchants give Standard Webhooks
// libraries).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, "dispatcher:", err)
		os.Exit(1)
	}
}
