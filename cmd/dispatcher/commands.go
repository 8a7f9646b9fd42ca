package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/webhookd/webhookd/internal/env"
)

// run is main without the process: lookup nil means the environment plus
// ./.env.
func run(ctx context.Context, args []string, lookup env.Lookup, stdout, stderr io.Writer) error {
	if lookup == nil {
		var err error
		if lookup, err = env.WithDotenv(".env"); err != nil {
			return err
		}
	}
	root := newRoot(lookup)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(singleDashRole(args))
	cmd, err := root.ExecuteContextC(ctx)
	if u, ok := errors.AsType[*usageError](err); ok && u.cmd == "" && cmd != nil {
		u.cmd = cmd.CommandPath()
	}
	return err
}

// newRoot builds the command tree. With no command it serves.
func newRoot(lookup env.Lookup) *cobra.Command {
	var role roleFlag
	root := &cobra.Command{
		Use:   "dispatcher",
		Short: "webhookd: a durable webhook dispatcher",
		Long: `dispatcher runs webhookd (the API and/or the delivery worker: "dispatcher" alone is
"dispatcher serve"), migrates its store, and operates a running one through its HTTP API.

The operator commands (events, endpoints) call the API at --api-url, else WEBHOOKD_URL, else
http://127.0.0.1:$DISPATCHER_PORT, with --token, else WEBHOOKD_TOKEN, else the first of
API_TOKENS. They print the API's JSON on stdout, and its error on stderr.

Exit status: 0 success, 1 failure, 2 command-line mistake.`,
		Args: noCommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), lookup, string(role))
		},
	}
	role.register(root)
	root.AddCommand(newServeCmd(lookup), newMigrateCmd(lookup), newHealthcheckCmd(lookup), newSecretCmd(lookup))
	client := &clientFlags{lookup: lookup}
	root.AddCommand(newEventsCmd(client), newEndpointsCmd(client))
	root.SetHelpCommand(newHelpCmd())
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &usageError{err, cmd.CommandPath()} })
	withEnvHelp(root)
	quiet(root)
	return root
}

// quiet leaves reporting errors, and choosing the exit status, to main.
func quiet(c *cobra.Command) {
	c.SilenceErrors, c.SilenceUsage = true, true
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return &usageError{err, cmd.CommandPath()}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		quiet(sub)
	}
}

// usageError is a mistake on the command line: exit status 2. cmd, when
// known, is the command whose help to suggest.
type usageError struct {
	err error
	cmd string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef is a usageError from a format.
func usagef(format string, args ...any) error { return &usageError{err: fmt.Errorf(format, args...)} }

// noCommand refuses an argument where only a subcommand may stand:
// cobra would otherwise run the parent (serve, for the root) or print
// its help and succeed.
func noCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return errors.New(msg)
}

// newGroup is a command that only holds subcommands: alone it prints its
// help.
func newGroup(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: use, Short: short, Args: noCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	g.AddCommand(subs...)
	return g
}

// newHelpCmd replaces cobra's help command, which prints the root's help
// and succeeds for an unknown topic.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err == nil && len(rest) > 0 {
				err = noCommand(target, rest)
			}
			if err != nil {
				return &usageError{err, "dispatcher"}
			}
			return target.Help()
		},
	}
}

// singleDashRole rewrites the flag package's -role X and -role=X, which
// the old command line took, to --role: pflag would read -role as -r -o
// -l -e. The result is never nil: given nil, cobra would read os.Args.
func singleDashRole(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if a == "-role" || strings.HasPrefix(a, "-role=") {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}
