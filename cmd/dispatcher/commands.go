package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/internal/env"
	"github.com/webhookd/webhookd/wiring"
)

// run is main without the process: lookup nil means the environment plus
// ./.env.
func run(ctx context.Context, args []string, lookup env.Lookup) error {
	fs := flag.NewFlagSet("dispatcher", flag.ContinueOnError)
	role := fs.String("role", "", "all, api or worker (overrides ROLE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if lookup == nil {
		var err error
		if lookup, err = env.WithDotenv(".env"); err != nil {
			return err
		}
	}
	// The tools read only what they use: migrating needs no signing secret.
	switch fs.Arg(0) {
	case "migrate":
		db, err := wiring.LoadDatabaseConfig(lookup)
		if err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		return wiring.Migrate(ctx, db, fs.Arg(1), os.Stdout)
	case "healthcheck": // for container health checks: the image has no shell or curl
		port, err := wiring.LoadHealthcheckPort(lookup, *role)
		if err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		return healthcheck(ctx, port)
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
	if fs.Arg(0) == "secret" { // the merchant's Standard Webhooks secret ("whsec_…")
		return printMerchantSecrets(cfg.Signing, os.Stdout)
	}
	app, cleanup, err := wiring.Initialize(ctx, cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	return app.Run(ctx)
}

// healthcheck asks the local /ready (the API's, or a worker's) and fails
// unless it answers 200.
func healthcheck(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(port)+"/ready", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /ready answered %d", resp.StatusCode)
	}
	return nil
}

// printMerchantSecrets prints, for HMAC_SECRET and each of
// HMAC_EXTRA_SECRETS, the "whsec_…" form that merchants give a Standard
// Webhooks library to verify webhook-signature.
func printMerchantSecrets(cfg wiring.SigningConfig, out io.Writer) error {
	for i, text := range append([]string{cfg.Secret}, cfg.ExtraSecrets...) {
		sec, err := signing.ParseSecret(text)
		if err != nil {
			return fmt.Errorf("HMAC_SECRET/HMAC_EXTRA_SECRETS: %w", err)
		}
		name := "HMAC_SECRET"
		if i > 0 {
			name = fmt.Sprintf("HMAC_EXTRA_SECRETS[%d]", i-1)
		}
		fmt.Fprintf(out, "%s\t%s\n", name, sec.Standard())
	}
	return nil
}
