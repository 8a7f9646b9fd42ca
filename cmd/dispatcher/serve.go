package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/internal/env"
	"github.com/webhookd/webhookd/wiring"
)

// roleFlag is --role: empty until given, so that ROLE applies.
type roleFlag string

func (r *roleFlag) String() string { return string(*r) }
func (r *roleFlag) Type() string   { return "role" }

// Set refuses a bad role as a command-line mistake, before anything runs.
func (r *roleFlag) Set(s string) error {
	if role := wiring.Role(s); !role.RunsAPI() && !role.RunsWorker() {
		return errors.New("must be all, api or worker")
	}
	*r = roleFlag(s)
	return nil
}

func (r *roleFlag) register(cmd *cobra.Command) {
	cmd.Flags().Var(r, "role", "all, api or worker (overrides ROLE)")
}

func newServeCmd(lookup env.Lookup) *cobra.Command {
	var role roleFlag
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API and/or the delivery worker (the default command)",
		Long: `serve runs webhookd until SIGINT or SIGTERM, then stops gracefully: the API and the
delivery worker (ROLE=all), or one of them. It is configured by the environment variables
below; a ./.env file is read too, and the real environment wins.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), lookup, string(role))
		},
	}
	role.register(cmd)
	return cmd
}

// serve runs the service; role, when set, overrides ROLE.
func serve(ctx context.Context, lookup env.Lookup, role string) error {
	cfg, err := wiring.LoadConfig(lookup)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if role != "" {
		cfg.Role = wiring.Role(role)
	}
	debug.SetGCPercent(cfg.GCPercent) // GOGC, read with the rest (./.env too); the runtime's own reading is replaced
	app, cleanup, err := wiring.Initialize(ctx, cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	return app.Run(ctx)
}

func newHealthcheckCmd(lookup env.Lookup) *cobra.Command {
	var role roleFlag
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the local dispatcher is ready (for container health checks)",
		Long: `healthcheck asks the local process's /ready (on DISPATCHER_PORT, or METRICS_PORT for a
worker that has one) and exits 0 only if it answers 200. The image has no shell or curl.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			port, err := wiring.LoadHealthcheckPort(lookup, string(role))
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			return healthcheck(cmd.Context(), port)
		},
	}
	role.register(cmd)
	return cmd
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

func newSecretCmd(lookup env.Lookup) *cobra.Command {
	return &cobra.Command{
		Use:   "secret",
		Short: "Print the whsec_ secrets merchants give a Standard Webhooks library",
		Long: `secret prints, for HMAC_SECRET and each of HMAC_EXTRA_SECRETS, the "whsec_..." form that
merchants give a Standard Webhooks library to verify webhook-signature.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := wiring.LoadConfig(lookup)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			return printMerchantSecrets(cfg.Signing, cmd.OutOrStdout())
		},
	}
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
