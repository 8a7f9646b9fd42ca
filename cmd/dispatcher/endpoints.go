package main

import (
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

func newEndpointsCmd(cf *clientFlags) *cobra.Command {
	g := newGroup("endpoints", "List, create endpoints and rotate their secrets (a client of a running dispatcher's API)",
		newEndpointsListCmd(cf), newEndpointsCreateCmd(cf), newEndpointsRotateCmd(cf))
	cf.register(g)
	return g
}

func newEndpointsListCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List endpoints, a page at a time (GET /endpoints)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := query(cmd, []param{{"limit", "limit"}, {"page", "page"}})
			if err != nil {
				return err
			}
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			return c.show(cmd.Context(), http.MethodGet, "/endpoints", q, nil)
		},
	}
	cmd.Flags().Int("limit", 0, "endpoints per page, 1 to 100 (the API's default: 20)")
	cmd.Flags().Int("page", 0, "page number, from 1")
	return cmd
}

func newEndpointsCreateCmd(cf *clientFlags) *cobra.Command {
	var (
		target, description string
		types               []string
		rateLimit           int
	)
	cmd := &cobra.Command{
		Use:   "create --url URL",
		Short: "Create an endpoint; prints it with its secret, shown this once (POST /endpoints)",
		Long: `create registers a merchant's endpoint, to which events of its --type values (every type
when none is given) are fanned out. The answer carries the endpoint's signing secret: give it
to the merchant; GET /endpoints/ID/secret shows it again.`,
		Example: `  dispatcher endpoints create --url https://merchant.example/webhooks --type order.paid --type order.refunded`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				return usagef("--url is required")
			}
			body := map[string]any{"url": target}
			fs := cmd.Flags()
			if fs.Changed("type") {
				body["event_types"] = types
			}
			if fs.Changed("rate-limit") {
				body["rate_limit_per_second"] = rateLimit
			}
			if fs.Changed("description") {
				body["description"] = description
			}
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			return c.show(cmd.Context(), http.MethodPost, "/endpoints", nil, body)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&target, "url", "", "where the endpoint's webhooks go (required)")
	fs.StringArrayVar(&types, "type", nil, "an event type it receives; repeat for several (none: every type)")
	fs.IntVar(&rateLimit, "rate-limit", 0, "most deliveries per second to it (none: no limit)")
	fs.StringVar(&description, "description", "", "a note for operators")
	return cmd
}

func newEndpointsRotateCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Give an endpoint a new signing secret (POST /endpoints/ID/secret/rotate)",
		Long: `rotate-secret generates the endpoint's next secret and prints it. The old one keeps signing
beside it for SECRET_ROTATION_GRACE_MS, so that the merchant can switch without losing a webhook.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			return c.show(cmd.Context(), http.MethodPost, "/endpoints/"+url.PathEscape(args[0])+"/secret/rotate", nil, nil)
		},
	}
}
