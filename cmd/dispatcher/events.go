package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func newEventsCmd(cf *clientFlags) *cobra.Command {
	g := newGroup("events", "List, show, retry and recover events (a client of a running dispatcher's API)",
		newEventsListCmd(cf), newEventsGetCmd(cf), newEventsRetryCmd(cf), newEventsRecoverCmd(cf))
	cf.register(g)
	return g
}

// param maps a flag to the API's name for it.
type param struct{ flag, name string }

var listParams = []param{{"status", "status"}, {"endpoint", "endpoint_id"}, {"type", "event_type"}, {"origin", "origin"},
	{"after", "created_after"}, {"before", "created_before"}, {"limit", "limit"}, {"page", "page"}, {"cursor", "cursor"}}

func newEventsListCmd(cf *clientFlags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List events, a page at a time (GET /events)",
		Long: `list prints one page of GET /events as the API answers it: {"data":[...],"total":N,
"page":N,"limit":N,"next_cursor":...}. With --all it follows next_cursor to the end and
prints one event per line (NDJSON) instead. Only the filters given are sent.`,
		Example: `  dispatcher events list --status dead --limit 100
  dispatcher events list --all --endpoint 0191f1c2-... | jq -r .id`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := query(cmd, listParams)
			if err != nil {
				return err
			}
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			if all {
				return listAll(cmd.Context(), c, q)
			}
			return c.show(cmd.Context(), http.MethodGet, "/events", q, nil)
		},
	}
	fs := cmd.Flags()
	fs.String("status", "", "pending, delivering, succeeded or dead")
	fs.String("endpoint", "", "only events routed to this endpoint id")
	fs.String("type", "", "only this event type, like order.paid")
	fs.String("origin", "", "only events with a delivery to this origin, like https://merchant.example")
	fs.String("after", "", "only events created at or after this time (RFC 3339)")
	fs.String("before", "", "only events created before this time (RFC 3339)")
	fs.Int("limit", 0, "events per page, 1 to 100 (the API's default: 20)")
	fs.Int("page", 0, "page number, from 1")
	fs.String("cursor", "", "start after this next_cursor")
	fs.BoolVar(&all, "all", false, "every page, one event per line (NDJSON)")
	return cmd
}

// listAll prints every event from q on, one compact JSON object a line.
// It follows next_cursor; an API that has no cursors is walked by page.
func listAll(ctx context.Context, c *client, q url.Values) error {
	for {
		raw, err := c.call(ctx, http.MethodGet, "/events", q, nil)
		if err != nil {
			return err
		}
		var top map[string]json.RawMessage
		var data []json.RawMessage
		if err := json.Unmarshal(raw, &top); err != nil || json.Unmarshal(top["data"], &data) != nil {
			return fmt.Errorf("GET /events: the answer is not a page of events: %.200s", raw)
		}
		for _, ev := range data {
			var line bytes.Buffer
			if err := json.Compact(&line, ev); err != nil {
				return fmt.Errorf("GET /events: %w", err)
			}
			line.WriteByte('\n')
			if _, err := c.stdout.Write(line.Bytes()); err != nil {
				return err
			}
		}
		if len(data) == 0 {
			return nil
		}
		if rawNext, ok := top["next_cursor"]; ok {
			var next *string
			if err := json.Unmarshal(rawNext, &next); err != nil {
				return fmt.Errorf("GET /events: next_cursor: %w", err)
			}
			if next == nil || *next == "" {
				return nil
			}
			if *next == q.Get("cursor") {
				return fmt.Errorf("GET /events: the API answered cursor %q with itself", *next)
			}
			q.Set("cursor", *next)
			q.Del("page")
			continue
		}
		var page, limit int
		_ = json.Unmarshal(top["page"], &page)
		_ = json.Unmarshal(top["limit"], &limit)
		asked, _ := strconv.Atoi(q.Get("page"))
		if len(data) < limit || page < max(asked, 1) { // the last page, or the API's page cap
			return nil
		}
		q.Set("page", strconv.Itoa(page+1))
	}
}

func newEventsGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show an event, its deliveries and their attempts (GET /events/ID)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			return c.show(cmd.Context(), http.MethodGet, "/events/"+url.PathEscape(args[0]), nil, nil)
		},
	}
}

func newEventsRetryCmd(cf *clientFlags) *cobra.Command {
	var delivery string
	cmd := &cobra.Command{
		Use:   "retry ID",
		Short: "Send a finished event again (POST /events/ID/retry)",
		Long: `retry sends every succeeded or dead delivery of the event again, or with --delivery only
that one (POST /events/ID/deliveries/DID/retry).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			path := "/events/" + url.PathEscape(args[0])
			if delivery != "" {
				path += "/deliveries/" + url.PathEscape(delivery)
			}
			return c.show(cmd.Context(), http.MethodPost, path+"/retry", nil, nil)
		},
	}
	cmd.Flags().StringVar(&delivery, "delivery", "", "retry only this delivery of the event")
	return cmd
}

var recoverParams = []param{{"status", "status"}, {"endpoint", "endpoint_id"}, {"origin", "origin"},
	{"after", "created_after"}, {"before", "created_before"}, {"rate", "rate_per_second"}}

func newEventsRecoverCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Send finished deliveries again, in bulk and paced (POST /events/recover)",
		Long: `recover queues again the finished deliveries that match the filters (dead ones, after a
merchant's outage, say), paced at --rate per second per target. The API answers 202 with
{"queued":N,"more":bool,"rate_per_second":R}; "more" means run it again for the rest.
Only the filters given are sent; the API wants at least one of --endpoint, --origin, --after.`,
		Example: `  dispatcher events recover --status dead --origin https://merchant.example --after 2025-01-02T00:00:00Z --rate 20`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := query(cmd, recoverParams)
			if err != nil {
				return err
			}
			body := map[string]any{}
			for name := range q {
				body[name] = q.Get(name)
			}
			if _, ok := body["rate_per_second"]; ok {
				rate, _ := cmd.Flags().GetFloat64("rate")
				if rate <= 0 {
					return usagef("--rate %v: want a positive number of deliveries per second", rate)
				}
				body["rate_per_second"] = rate // a number, not the string form
			}
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			return c.show(cmd.Context(), http.MethodPost, "/events/recover", nil, body)
		},
	}
	fs := cmd.Flags()
	fs.String("status", "", "dead or succeeded (the API's default: dead)")
	fs.String("endpoint", "", "only deliveries to this endpoint id")
	fs.String("origin", "", "only deliveries to this origin, like https://merchant.example")
	fs.String("after", "", "only events created at or after this time (RFC 3339)")
	fs.String("before", "", "only events created before this time (RFC 3339)")
	fs.Float64("rate", 0, "deliveries sent per second to each target (the API's default: 20)")
	return cmd
}

// query reads the flags of params that were given, as the API names
// them; a time or a count that cannot be right is a usage error here
// rather than a 400 later.
func query(cmd *cobra.Command, params []param) (url.Values, error) {
	fs, q := cmd.Flags(), url.Values{}
	for _, p := range params {
		if !fs.Changed(p.flag) {
			continue
		}
		v := fs.Lookup(p.flag).Value.String()
		switch p.flag {
		case "after", "before":
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				return nil, usagef("--%s %q: want an RFC 3339 time, like 2025-01-02T15:04:05Z", p.flag, v)
			}
		case "limit", "page":
			if n, _ := strconv.Atoi(v); n < 1 {
				return nil, usagef("--%s %s: want a whole number from 1", p.flag, v)
			}
		}
		q.Set(p.name, v)
	}
	return q, nil
}
