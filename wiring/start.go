package wiring

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/webhookd/webhookd/adapters/clock"
	"github.com/webhookd/webhookd/core/signing"
)

// Initialize builds the App for cfg.Store and logs configuration warnings.
func Initialize(ctx context.Context, cfg Config) (*App, func(), error) {
	var (
		app     *App
		cleanup func()
		err     error
	)
	switch cfg.Store {
	case "memory":
		app, cleanup, err = InitializeMemoryApp(ctx, cfg, clock.System{})
	default:
		app, cleanup, err = InitializeApp(ctx, cfg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("start: %w", err)
	}
	for _, w := range cfg.Warnings {
		app.Log.Warn(w)
	}
	return app, cleanup, nil
}

// Healthcheck asks the local API's /ready and fails unless it answers 200.
func Healthcheck(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, port, _ := strings.Cut(cfg.HTTP.Addr, ":")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/ready", nil)
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

// PrintMerchantSecrets prints, for HMAC_SECRET and each of
// HMAC_EXTRA_SECRETS, the "whsec_…" form that merchants give a Standard
// Webhooks library to verify webhook-signature.
func PrintMerchantSecrets(cfg Config, out io.Writer) error {
	for i, text := range append([]string{cfg.Signing.Secret}, cfg.Signing.ExtraSecrets...) {
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
