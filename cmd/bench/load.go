package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// loadSpec is one producer load against POST /events.
type loadSpec struct {
	label    string
	base     string        // dispatcher API base, http://127.0.0.1:port
	clients  int           // concurrent keep-alive clients
	total    int           // requests to send; 0: until duration
	rate     float64       // events/s over all clients; 0: as fast as they go
	duration time.Duration // stop issuing after this; 0: until total
	prefix   string        // order_id prefix
}

// maxLoad bounds a count-based load: a dispatcher this slow has failed anyway.
const maxLoad = 10 * time.Minute

// loadResult is what a load saw. ids[i] was accepted at at[i] (time since
// epoch, when its 202 had been read) after lat[i].
type loadResult struct {
	issued, accepted, errors int
	errSamples               []string
	lat                      []time.Duration
	ids                      []string
	at                       []time.Duration
	elapsed                  time.Duration
}

// acceptedPerSec is 202s over the load's wall time.
func (r loadResult) acceptedPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.accepted) / r.elapsed.Seconds()
}

// latencyMS returns the p-quantile of the POST latencies in milliseconds.
func (r loadResult) latencyMS(p float64) float64 {
	return ms(percentileDur(r.lat, p))
}

func (r loadResult) summary() string {
	s := fmt.Sprintf("%s/%s accepted in %.2fs = %s/s, POST p50 %.2f ms p99 %.2f ms, %d errors",
		humanInt(r.accepted), humanInt(r.issued), r.elapsed.Seconds(), humanInt(int(r.acceptedPerSec())),
		r.latencyMS(0.50), r.latencyMS(0.99), r.errors)
	if len(r.errSamples) > 0 {
		s += fmt.Sprintf(" (e.g. %q)", r.errSamples[0])
	}
	return s
}

func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * conns,
			MaxIdleConnsPerHost: 2 * conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// runLoad posts events until total are sent or duration has passed: as fast
// as the clients go, or at spec.rate (event i is due at start + i/rate,
// taken by whichever client is free). It prints progress every 3 s.
func runLoad(ctx context.Context, spec loadSpec) loadResult {
	client := newClient(spec.clients)
	defer client.CloseIdleConnections()
	url := spec.base + "/events"

	start := time.Now()
	stopAt := start.Add(maxLoad)
	if spec.duration > 0 {
		stopAt = start.Add(spec.duration)
	}
	var interval time.Duration
	if spec.rate > 0 {
		interval = time.Duration(float64(time.Second) / spec.rate)
	}

	var next, accepted, failed atomic.Int64
	done := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		prev, prevAt := int64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := accepted.Load()
				of := ""
				if spec.total > 0 {
					of = "/" + humanInt(spec.total)
				}
				logf("    %s: %s%s accepted (%s/s now), %d errors", spec.label, humanInt(int(n)), of,
					humanInt(int(float64(n-prev)/now.Sub(prevAt).Seconds())), failed.Load())
				prev, prevAt = n, now
			}
		}
	}()

	parts := make([]loadResult, spec.clients)
	var wg sync.WaitGroup
	for c := range parts {
		wg.Add(1)
		go func(p *loadResult) {
			defer wg.Done()
			body := make([]byte, 0, 128)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if spec.total > 0 && i >= spec.total {
					return
				}
				if interval > 0 {
					due := start.Add(time.Duration(i) * interval)
					if !due.Before(stopAt) {
						return
					}
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				} else if time.Now().After(stopAt) {
					return
				}
				if ctx.Err() != nil {
					return
				}
				body = appendEvent(body[:0], spec.prefix, i)
				p.issued++
				t0 := time.Now()
				id, err := post(ctx, client, url, body)
				t1 := time.Now()
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted: not the dispatcher's fault
					}
					p.errors++
					failed.Add(1)
					if len(p.errSamples) < 3 {
						p.errSamples = append(p.errSamples, err.Error())
					}
					continue
				}
				accepted.Add(1)
				p.accepted++
				p.lat = append(p.lat, t1.Sub(t0))
				p.ids = append(p.ids, id)
				p.at = append(p.at, t1.Sub(epoch))
			}
		}(&parts[c])
	}
	wg.Wait()
	close(done)
	<-progressDone

	var r loadResult
	r.elapsed = time.Since(start)
	for _, p := range parts {
		r.issued += p.issued
		r.accepted += p.accepted
		r.errors += p.errors
		r.lat = append(r.lat, p.lat...)
		r.ids = append(r.ids, p.ids...)
		r.at = append(r.at, p.at...)
		for _, s := range p.errSamples {
			if len(r.errSamples) < 5 {
				r.errSamples = append(r.errSamples, s)
			}
		}
	}
	return r
}

// appendEvent appends {"payload":{"order_id":"…","amount":12.5,"n":i}}.
func appendEvent(b []byte, prefix string, i int) []byte {
	b = append(b, `{"payload":{"order_id":"`...)
	b = append(b, prefix...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","amount":12.5,"n":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, "}}"...)
}

// post sends one event; only a 202 with an id is a success.
func post(ctx context.Context, client *http.Client, url string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, clip(string(raw), 200))
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.ID == "" {
		return "", errors.New("202 without an id: " + clip(string(raw), 200))
	}
	return v.ID, nil
}

// getBody GETs url and returns the body of a 200.
func getBody(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, clip(string(raw), 200))
	}
	return raw, nil
}

// getJSON GETs url into v.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	raw, err := getBody(ctx, client, url)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// eventsTotal is GET /events' total: the events stored.
// eventsTotal is how many events the API lists. Its total is exact up to
// 10,000 (total_exact); past that the pages are counted, following the
// cursor.
func eventsTotal(ctx context.Context, base string) (int, error) {
	type page struct {
		Data       []json.RawMessage `json:"data"`
		Total      int               `json:"total"`
		TotalExact bool              `json:"total_exact"`
		NextCursor *string           `json:"next_cursor"`
	}
	client := newClient(1)
	defer client.CloseIdleConnections()
	var first page
	if err := getJSON(ctx, client, base+"/events?limit=1", &first); err != nil || first.TotalExact {
		return first.Total, err
	}
	n, next := 0, ""
	for {
		var p page
		u := base + "/events?limit=100"
		if next != "" {
			u += "&cursor=" + url.QueryEscape(next)
		}
		if err := getJSON(ctx, client, u, &p); err != nil {
			return n, err
		}
		n += len(p.Data)
		if p.NextCursor == nil {
			return n, nil
		}
		next = *p.NextCursor
	}
}

func percentileDur(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[rank(len(s), p)]
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[rank(len(s), p)]
}

// rank is the nearest-rank index of quantile p among n sorted values.
func rank(n int, p float64) int {
	i := int(float64(n)*p+0.999999999) - 1
	return min(max(i, 0), n-1)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
