package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/webhookd/webhookd/internal/env"
	"github.com/webhookd/webhookd/wiring"
)

// requestTimeout bounds one call to the API.
const requestTimeout = 30 * time.Second

// clientFlags are the operator commands' --api-url and --token, shared by
// events and endpoints.
type clientFlags struct {
	lookup     env.Lookup
	url, token string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.url, "api-url", "", "the dispatcher's API (default $WEBHOOKD_URL, else http://127.0.0.1:$DISPATCHER_PORT)")
	// No default shown: it would print the token in the help.
	fs.StringVar(&f.token, "token", "", "bearer token (default $WEBHOOKD_TOKEN, else the first of $API_TOKENS)")
}

// client resolves the flags, then the environment. The operator on the
// dispatcher's machine needs neither: the port and a token come from the
// service's own variables (./.env included).
func (f *clientFlags) client(cmd *cobra.Command) (*client, error) {
	base, err := f.baseURL()
	if err != nil {
		return nil, err
	}
	r := env.NewReader(f.lookup)
	token := f.token
	if token == "" {
		r.String("WEBHOOKD_TOKEN", &token)
	}
	if token == "" {
		var tokens []string
		r.List("API_TOKENS", &tokens)
		if len(tokens) > 0 {
			token = tokens[0]
		}
	}
	return &client{base: base, token: token, http: &http.Client{Timeout: requestTimeout},
		stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}, nil
}

func (f *clientFlags) baseURL() (string, error) {
	raw, from := f.url, "--api-url"
	if raw == "" {
		raw, _ = env.NewReader(f.lookup).Value("WEBHOOKD_URL")
		from = "WEBHOOKD_URL"
	}
	if raw == "" {
		port, err := wiring.LoadHealthcheckPort(f.lookup, string(wiring.RoleAPI))
		if err != nil {
			return "", fmt.Errorf("configuration:\n%w", err)
		}
		if port == 0 {
			return "", errors.New("DISPATCHER_PORT is 0 (any free port): say where the API is with --api-url or WEBHOOKD_URL")
		}
		return "http://127.0.0.1:" + strconv.Itoa(port), nil
	}
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		err := fmt.Errorf("%s %q: want the API's URL, like http://127.0.0.1:3000", from, raw)
		if from == "--api-url" {
			return "", &usageError{err: err}
		}
		return "", err
	}
	return strings.TrimRight(raw, "/"), nil
}

// client calls a running dispatcher's HTTP API.
type client struct {
	base           string // no trailing slash; may have a path (a proxy's prefix)
	token          string
	http           *http.Client
	stdout, stderr io.Writer
}

// refusedError is a non-2xx answer. Its body has been printed to stderr
// already, so main prints nothing more.
type refusedError struct{ Method, Path, Status string }

func (e *refusedError) Error() string { return e.Method + " " + e.Path + ": " + e.Status }

// call sends body (nil: none) as JSON and returns the answer's body. A
// non-2xx answer is printed to stderr and returned as a *refusedError.
func (c *client) call(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	var payload io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		payload = bytes.NewReader(b)
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, payload)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unreachable(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.refused(method, path, resp.Status, raw)
	}
	return raw, nil
}

// show calls the API and prints the answer.
func (c *client) show(ctx context.Context, method, path string, query url.Values, body any) error {
	raw, err := c.call(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	return writeJSON(c.stdout, raw)
}

// unreachable says, in one line, that nothing answered at the base URL.
func (c *client) unreachable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err() // Ctrl-C
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cannot reach the API at %s: connection refused (is the dispatcher running there? set --api-url or WEBHOOKD_URL)", c.base)
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err // its text repeats the URL
	}
	return fmt.Errorf("cannot reach the API at %s: %v", c.base, err)
}

// refused prints the API's error: its JSON envelope as it came (for jq),
// or a line with the status and the start of whatever else came (a
// proxy's page).
func (c *client) refused(method, path, status string, raw []byte) error {
	e := &refusedError{Method: method, Path: path, Status: status}
	if json.Valid(raw) {
		_ = writeJSON(c.stderr, raw)
		return e
	}
	// Not webhookd's envelope: name the whole URL, it may be the wrong one.
	line := fmt.Sprintf("dispatcher: %s %s%s: %s", method, c.base, path, status)
	if snippet := strings.TrimSpace(string(raw)); snippet != "" {
		if len(snippet) > 200 {
			snippet = strings.ToValidUTF8(snippet[:200], "") + "…"
		}
		line += ": " + snippet
	}
	fmt.Fprintln(c.stderr, line)
	return e
}

// writeJSON pretty-prints raw, keeping its members' order and numbers as
// they came; raw that is not JSON is written as it is.
func writeJSON(w io.Writer, raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil // 204
	}
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(bytes.TrimRight(raw, "\n"))
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
