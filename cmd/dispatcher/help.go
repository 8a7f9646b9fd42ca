package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/webhookd/webhookd/wiring"
)

// withEnvHelp appends to every command's help the environment variables
// it reads: all of them for the root and serve, the database's for
// migrate, the client's for events and endpoints, and so on.
func withEnvHelp(root *cobra.Command) {
	base := root.HelpFunc() // cobra's own, before it is replaced
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		base(cmd, args)
		top := cmd
		for top.Parent() != nil && top.Parent() != root {
			top = top.Parent()
		}
		if cmd == root || top.Name() == "serve" {
			writeEnv(cmd.OutOrStdout(), wiring.EnvVars())
			return
		}
		if names, ok := commandEnv[top.Name()]; ok {
			writeEnv(cmd.OutOrStdout(), envNamed(names))
		}
	})
}

// commandEnv names the variables each command (and its subcommands)
// reads, for its help; the root and serve read them all.
var commandEnv = map[string][]string{
	"migrate":     {"DATABASE_URL", "STORE", "DATABASE_SCHEMA", "DB_MAX_CONNS", "DB_CONNECT_TIMEOUT_MS"},
	"healthcheck": {"ROLE", "DISPATCHER_PORT", "METRICS_PORT"},
	"secret":      {"HMAC_SECRET", "HMAC_EXTRA_SECRETS"},
	"events":      {"WEBHOOKD_URL", "WEBHOOKD_TOKEN", "API_TOKENS", "DISPATCHER_PORT"},
	"endpoints":   {"WEBHOOKD_URL", "WEBHOOKD_TOKEN", "API_TOKENS", "DISPATCHER_PORT"},
}

// clientEnv are the operator commands' own variables (the service reads
// neither).
var clientEnv = []wiring.EnvVar{
	{Name: "WEBHOOKD_URL", Default: "http://127.0.0.1:$DISPATCHER_PORT", Help: "the API the operator commands call (--api-url wins)"},
	{Name: "WEBHOOKD_TOKEN", Default: "(the first of API_TOKENS)", Help: "the bearer token they send (--token wins)"},
}

// envNamed picks the named variables, in that order, from the service's
// table and the client's.
func envNamed(names []string) []wiring.EnvVar {
	var out []wiring.EnvVar
	for _, n := range names {
		for _, v := range append(wiring.EnvVars(), clientEnv...) {
			if v.Name == n {
				out = append(out, v)
			}
		}
	}
	return out
}

// writeEnv prints vars as a table; "-" is no default.
func writeEnv(w io.Writer, vars []wiring.EnvVar) {
	fmt.Fprintln(w, "\nEnvironment variables (also read from ./.env; the real environment wins):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tDEFAULT\tMEANING")
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, v.Help)
	}
	tw.Flush()
}
