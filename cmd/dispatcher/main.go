// Command dispatcher is webhookd's one binary.
//
//	dispatcher [serve] [--role all|api|worker]   run the API and/or the worker (the default)
//	dispatcher migrate [up|down|status]          migrate the store's schema
//	dispatcher healthcheck [--role R]            exit 0 when the local process is ready
//	dispatcher secret                            print the whsec_ secrets merchants verify with
//	dispatcher events list|get|retry|recover     operate a running dispatcher through its API
//	dispatcher endpoints list|create|rotate-secret
//
// The service is configured by environment variables (and ./.env), listed
// with their defaults by `dispatcher --help`. The operator commands are
// HTTP clients: --api-url or WEBHOOKD_URL, --token or WEBHOOKD_TOKEN (else
// the first of API_TOKENS), and they print the API's JSON.
//
// Exit status: 0 on success, 1 when the work failed (configuration, store,
// the API refused), 2 for a mistake on the command line.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := exitCode(run(ctx, os.Args[1:], nil, os.Stdout, os.Stderr), os.Stderr)
	stop()
	os.Exit(code)
}

// exitCode reports err on stderr, unless it was reported already, and maps
// it to the exit status.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if _, told := errors.AsType[*refusedError](err); !told {
		fmt.Fprintln(stderr, "dispatcher:", err)
	}
	if u, ok := errors.AsType[*usageError](err); ok {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmp.Or(u.cmd, "dispatcher"))
		return 2
	}
	return 1
}
