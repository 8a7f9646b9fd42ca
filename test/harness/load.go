package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/wait"
)

// LoadConfig is a producer load: Total logical events, each posted with its
// own Idempotency-Key and retried with that same key until a 202 (the way
// a careful producer behaves), so that every event is accepted exactly once
// however often the dispatcher or the database goes away meanwhile.
type LoadConfig struct {
	Bases     []string      // dispatcher API bases; event i goes to Bases[i % len(Bases)]
	Total     int           // logical events
	Rate      float64       // events per second over all clients; 0: as fast as they go
	Clients   int           // concurrent producers; default 16
	KeyPrefix string        // Idempotency-Key is KeyPrefix + i; default random
	Timeout   time.Duration // bound on the whole load, retries included; default 2 min
	// EventType, when set, gives event i a type and no target_url: it
	// goes to the endpoints subscribed to that type.
	EventType func(i int) string
}

// Try is one POST /events of a load.
type Try struct {
	Key        string
	Start, End time.Time
	Status     int    // 0: no answer (refused, reset, timed out)
	Code       string // error envelope code of a non-2xx answer
	ID         string // id of a 202
	Replayed   bool   // Idempotent-Replayed: true
	Err        string // transport error, when Status is 0
}

// LoadResult is what a load saw.
type LoadResult struct {
	Accepted   map[string]string // Idempotency-Key → event id of its 202
	Tries      []Try             // every POST, in completion order
	Replayed   int               // 202s that replayed an earlier, unanswered store
	Retries    int               // tries that were not a 202
	Unaccepted []string          // keys without a 202 when the load ended
	Problems   []string          // answers other than 202, 503 and no answer (not retried)
	Elapsed    time.Duration
}

// Load is a running producer load.
type Load struct {
	cfg      LoadConfig
	client   *http.Client
	cancel   context.CancelFunc
	done     chan struct{}
	accepted atomic.Int64
	mu       sync.Mutex
	res      LoadResult
}

// StartLoad starts cfg's producers in the background; Wait collects them.
func StartLoad(t testing.TB, cfg LoadConfig) *Load {
	t.Helper()
	if len(cfg.Bases) == 0 || cfg.Total <= 0 {
		t.Fatalf("StartLoad: no bases or no events: %+v", cfg)
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 16
	}
	if cfg.KeyPrefix == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.KeyPrefix = "load-" + hex.EncodeToString(b[:]) + "-"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	l := &Load{
		cfg: cfg, cancel: cancel, done: make(chan struct{}),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConns: cfg.Clients, MaxIdleConnsPerHost: cfg.Clients, IdleConnTimeout: 30 * time.Second,
		}},
		res: LoadResult{Accepted: make(map[string]string, cfg.Total)},
	}
	go l.run(ctx)
	t.Cleanup(func() { l.cancel(); <-l.done })
	return l
}

// Accepted is the number of events accepted so far.
func (l *Load) Accepted() int { return int(l.accepted.Load()) }

// Wait waits for the load to end (every event accepted, or its Timeout)
// and returns what it saw.
func (l *Load) Wait() LoadResult {
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res
}

func (l *Load) run(ctx context.Context) {
	defer close(l.done)
	defer l.cancel()
	defer l.client.CloseIdleConnections()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range l.cfg.Clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= l.cfg.Total {
					return
				}
				if l.cfg.Rate > 0 {
					due := start.Add(time.Duration(float64(i) / l.cfg.Rate * float64(time.Second)))
					if !wait.Sleep(ctx, time.Until(due)) {
						l.unaccepted(l.cfg.KeyPrefix + strconv.Itoa(i))
						continue
					}
				}
				l.event(ctx, i)
			}
		})
	}
	wg.Wait()
	l.mu.Lock()
	l.res.Elapsed = time.Since(start)
	l.mu.Unlock()
}

// event posts event i until it is accepted, refused for good, or ctx ends.
func (l *Load) event(ctx context.Context, i int) {
	key := l.cfg.KeyPrefix + strconv.Itoa(i)
	base := l.cfg.Bases[i%len(l.cfg.Bases)]
	req := map[string]any{"payload": map[string]any{"seq": i, "key": key}}
	if l.cfg.EventType != nil {
		req["event_type"] = l.cfg.EventType(i)
	}
	body, _ := json.Marshal(req)
	backoff := 20 * time.Millisecond
	for {
		try := l.post(ctx, base, key, body)
		l.record(try)
		switch {
		case try.Status == http.StatusAccepted:
			return
		case try.Status != 0 && try.Status != http.StatusServiceUnavailable:
			l.problem(fmt.Sprintf("%s: %d %s", key, try.Status, try.Code))
			return
		}
		if !wait.Sleep(ctx, backoff) {
			l.unaccepted(key)
			return
		}
		backoff = min(2*backoff, 320*time.Millisecond)
	}
}

func (l *Load) post(ctx context.Context, base, key string, body []byte) (try Try) {
	try = Try{Key: key, Start: time.Now()}
	defer func() { try.End = time.Now() }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/events", bytes.NewReader(body))
	if err != nil {
		try.Err = err.Error()
		return try
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := l.client.Do(req)
	if err != nil {
		try.Err = err.Error()
		return try
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	try.Status = resp.StatusCode
	if try.Status == http.StatusAccepted {
		var ok struct{ ID string }
		_ = json.Unmarshal(raw, &ok)
		try.ID, try.Replayed = ok.ID, resp.Header.Get("Idempotent-Replayed") == "true"
		return try
	}
	var env struct{ Error struct{ Code string } }
	if json.Unmarshal(raw, &env) == nil {
		try.Code = env.Error.Code
	}
	return try
}

func (l *Load) record(try Try) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.Tries = append(l.res.Tries, try)
	if try.Status != http.StatusAccepted {
		l.res.Retries++
		return
	}
	if try.ID == "" {
		l.res.Problems = append(l.res.Problems, try.Key+": 202 without an id")
		return
	}
	l.res.Accepted[try.Key] = try.ID
	if try.Replayed {
		l.res.Replayed++
	}
	l.accepted.Add(1)
}

func (l *Load) problem(p string) {
	l.mu.Lock()
	l.res.Problems = append(l.res.Problems, p)
	l.mu.Unlock()
}

func (l *Load) unaccepted(key string) {
	l.mu.Lock()
	l.res.Unaccepted = append(l.res.Unaccepted, key)
	l.mu.Unlock()
}

// Merge adds other's accepted events to r's (for a test with several
// loads); other fields keep r's values.
func (r LoadResult) Merge(other LoadResult) LoadResult {
	all := make(map[string]string, len(r.Accepted)+len(other.Accepted))
	for k, v := range r.Accepted {
		all[k] = v
	}
	for k, v := range other.Accepted {
		all[k] = v
	}
	r.Accepted = all
	return r
}
