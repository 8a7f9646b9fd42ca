package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/webhookd/webhookd/wiring"
)

// withEnvHelp appends the service's environment variables to the help of
// the root and of serve, the commands that read them.
func withEnvHelp(root *cobra.Command) {
	base := root.HelpFunc() // cobra's own, before it is replaced
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		base(cmd, args)
		if cmd == root || cmd.Parent() == root && cmd.Name() == "serve" {
			writeEnv(cmd.OutOrStdout())
		}
	})
}

// writeEnv prints wiring.EnvVars as a table; "-" is no default.
func writeEnv(w io.Writer) {
	fmt.Fprintln(w, "\nEnvironment variables (also read from ./.env; the real environment wins):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tDEFAULT\tMEANING")
	for _, v := range wiring.EnvVars() {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, v.Help)
	}
	tw.Flush()
}
