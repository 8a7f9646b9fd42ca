package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// listTotalCap is the API's exact-count limit (ports.ListTotalCap).
const listTotalCap = 10_000

type listPage struct {
	Data       []map[string]any `json:"data"`
	Total      int              `json:"total"`
	TotalExact bool             `json:"total_exact"`
	NextCursor *string          `json:"next_cursor"`
}

// scList: N stored events (ROLE=api; on PostgreSQL inserted by SQL unless
// -list-fill api), then GET /events?limit=20 50 times: the first page, a
// page 5,000 rows deep by cursor and the same depth by page number; then
// 100 events of 1 MiB and four clients listing them 100 at a time, the
// dispatcher's RSS sampled throughout.
func scList(ctx context.Context, rc *runCtx) error {
	n := rc.b.scaled(200000)
	d, err := rc.start(ctx, "api", map[string]string{"MAX_PAYLOAD_BYTES": fmt.Sprint(2 << 20)}, true)
	if err != nil {
		return err
	}
	defer rc.stop(d)
	if rc.pg != nil && rc.b.opts.listFill == "sql" {
		db, err := rc.openDB()
		if err != nil {
			return err
		}
		defer db.Close()
		logf("    inserting %s pending events by SQL (then VACUUM ANALYZE, as autovacuum would, and CHECKPOINT)", humanInt(n))
		if err := fillEvents(ctx, db, n, rc.recv.url+"/webhook", rc.origin(), "pending"); err != nil {
			return err
		}
	} else {
		r := runLoad(ctx, loadSpec{label: "list: storing", base: d.base, clients: 64, total: n, prefix: "list"})
		logf("    stored through the API: %s", r.summary())
		rc.checkLoad("every POST answered 202", r, n)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	client := newClient(1)
	defer client.CloseIdleConnections()
	var first listPage
	if err := getJSON(ctx, client, d.base+"/events?limit=20", &first); err != nil {
		return err
	}
	rc.check("GET /events total = rows stored (counted up to 10,000), first page full",
		first.Total == min(n, listTotalCap) && first.TotalExact == (n <= listTotalCap) && len(first.Data) == 20,
		fmt.Sprintf("total %s exact %v (stored %s), %d rows on the page", humanInt(first.Total), first.TotalExact, humanInt(n), len(first.Data)))

	// A cursor 5,000 rows deep (or as deep as there is).
	depth := min(5000, n-20)
	cursor := ""
	for walked := 0; walked < depth; walked += 100 {
		var p listPage
		q := fmt.Sprintf("/events?limit=%d", min(100, depth-walked))
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := getJSON(ctx, client, d.base+q, &p); err != nil {
			return err
		}
		if p.NextCursor == nil {
			return fmt.Errorf("GET %s: no next_cursor %d rows deep", q, walked)
		}
		cursor = *p.NextCursor
	}
	for _, c := range []struct{ key, query string }{
		{"list", "/events?limit=20"},
		{"list_cursor_deep", "/events?limit=20&cursor=" + url.QueryEscape(cursor)},
		{"list_page_deep", fmt.Sprintf("/events?limit=20&page=%d", depth/20+1)},
	} {
		p50, p99, err := timeList(ctx, d.base+c.query)
		if err != nil {
			return err
		}
		rc.set(c.key+"_p50", p50)
		rc.set(c.key+"_p99", p99)
		logf("    GET %s over %s rows: p50 %.2f ms, p99 %.2f ms", clip(c.query, 40), humanInt(n), p50, p99)
	}
	return listLargeEvents(ctx, rc, d)
}

// timeList GETs url 50 times (after 3 warm-ups) and returns p50, p99 in
// ms, checking each answer is a full page.
func timeList(ctx context.Context, url string) (p50, p99 float64, err error) {
	c := newClient(1)
	defer c.CloseIdleConnections()
	for range 3 {
		if _, err := getBody(ctx, c, url); err != nil {
			return 0, 0, err
		}
	}
	var lat []time.Duration
	for range 50 {
		t0 := time.Now()
		raw, err := getBody(ctx, c, url)
		if err != nil {
			return 0, 0, err
		}
		lat = append(lat, time.Since(t0)) // the whole answer read; decoding it is not the server's time
		var p listPage
		if err := json.Unmarshal(raw, &p); err != nil || len(p.Data) != 20 {
			return 0, 0, fmt.Errorf("GET %s: %d rows, %v", url, len(p.Data), err)
		}
	}
	return ms(percentileDur(lat, 0.50)), ms(percentileDur(lat, 0.99)), nil
}

// listLargeEvents stores 100 events of 1 MiB, then four clients each list
// them 100 at a time, 10 times: the dispatcher's RSS over its RSS before.
func listLargeEvents(ctx context.Context, rc *runCtx, d *proc) error {
	const big, clients, rounds = 100, 4, 10
	payload := []byte(`{"payload":{"blob":"` + strings.Repeat("x", 1<<20) + `"}}`)
	post1 := newClient(4)
	defer post1.CloseIdleConnections()
	for i := range big {
		if _, err := post(ctx, post1, d.base+"/events", payload); err != nil {
			return fmt.Errorf("storing 1 MiB event %d: %w", i, err)
		}
	}
	before := d.rssKB()
	var peak int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak = max(peak, d.rssKB())
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	omitted := make(chan bool, clients*rounds)
	for range clients {
		wg.Go(func() {
			c := newClient(1)
			defer c.CloseIdleConnections()
			for range rounds {
				var p listPage
				if err := getJSON(ctx, c, d.base+"/events?limit=100", &p); err != nil {
					errs <- err
					return
				}
				all := len(p.Data) == 100
				for _, ev := range p.Data {
					all = all && ev["payload_omitted"] == true
				}
				omitted <- all
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(errs)
	close(omitted)
	for err := range errs {
		return err
	}
	ok := true
	for o := range omitted {
		ok = ok && o
	}
	rc.check("1 MiB events listed without their payload", ok, "")
	added := float64(peak-before) / 1024
	rc.set("list_1mib_rss_added_mb", added)
	logf("    4 clients × 10 × GET /events?limit=100 of 1 MiB events: RSS %.0f MB before, peak %.0f MB (+%.1f MB)",
		float64(before)/1024, float64(peak)/1024, added)
	return nil
}
