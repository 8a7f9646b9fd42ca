// Command dispatcher runs webhookd: the API and/or the delivery worker
// (ROLE or -role: all, api, worker), `dispatcher migrate up|down|status`, or
// `dispatcher healthcheck` (exit 0 when the local API is ready), or
// `dispatcher secret` (the whsec_ secrets merchants give Standard Webhooks
// libraries).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/webhookd/webhookd/wiring"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, "dispatcher:", err)
		os.Exit(1)
	}
}

// run is main without the process: lookup nil means the environment plus ./.env.
func run(ctx context.Context, args []string, lookup wiring.Lookup) error {
	fs := flag.NewFlagSet("dispatcher", flag.ContinueOnError)
	role := fs.String("role", "", "all, api or worker (overrides ROLE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if lookup == nil {
		var err error
		if lookup, err = wiring.EnvWithDotenv(".env"); err != nil {
			return err
		}
	}
	cfg, err := wiring.LoadConfig(lookup)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if *role != "" {
		if cfg.Role = wiring.Role(*role); !cfg.Role.RunsAPI() && !cfg.Role.RunsWorker() {
			return fmt.Errorf("-role %q: must be all, api or worker", *role)
		}
	}
	switch fs.Arg(0) {
	case "migrate":
		return wiring.Migrate(ctx, cfg, fs.Arg(1), os.Stdout)
	case "healthcheck": // for container health checks: the image has no shell or curl
		return wiring.Healthcheck(ctx, cfg)
	case "secret": // the merchant's Standard Webhooks secret ("whsec_…")
		return wiring.PrintMerchantSecrets(cfg, os.Stdout)
	}
	app, cleanup, err := wiring.Initialize(ctx, cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	return app.Run(ctx)
}
