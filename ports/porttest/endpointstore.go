package porttest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// RunEndpointStore runs the EndpointStore contract. newStore must return
// an empty store, independent of every other it returned.
func RunEndpointStore(t *testing.T, newStore func(t *testing.T) ports.EndpointStore) {
	s := endpointSuite{newStore: newStore}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"CreateGetRoundTrip", s.roundTrip},
		{"GetUnknown", s.unknown},
		{"DuplicateIDIsAConflict", s.duplicate},
		{"ListNewestFirstWithPaging", s.list},
		{"UpdateChangesWhatItSets", s.update},
		{"UpdateErrorWritesNothing", s.updateError},
		{"ConcurrentUpdatesApplyInTurn", s.concurrentUpdates},
		{"Delete", s.delete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type endpointSuite struct {
	newStore func(t *testing.T) ports.EndpointStore
}

// NewEndpoint builds a valid endpoint for url with sealed-looking secret
// bytes (stores keep them opaque).
func NewEndpoint(t testing.TB, url string) core.Endpoint {
	t.Helper()
	origin, err := core.ValidateEndpointURL(url)
	if err != nil {
		t.Fatalf("url %q: %v", url, err)
	}
	return core.Endpoint{ID: core.NewEndpointID(time.Now()), URL: url, Origin: origin, Secret: []byte{1, 2, 3, 0, 255}}
}

func createEndpoint(t *testing.T, st ports.EndpointStore, e core.Endpoint, now *time.Time) core.Endpoint {
	t.Helper()
	got, err := st.CreateEndpoint(t.Context(), e, now)
	if err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	return got
}

func sameEndpoint(t *testing.T, what string, got, want core.Endpoint) {
	t.Helper()
	switch {
	case got.ID != want.ID, got.URL != want.URL, got.Origin != want.Origin, got.Description != want.Description,
		got.RateLimitPerSecond != want.RateLimitPerSecond, got.Disabled != want.Disabled, got.DisabledReason != want.DisabledReason:
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	case !slices.Equal(got.EventTypes, want.EventTypes) && (len(got.EventTypes) != 0 || len(want.EventTypes) != 0):
		t.Errorf("%s: event types %q, want %q", what, got.EventTypes, want.EventTypes)
	case !bytes.Equal(got.Metadata, want.Metadata), !bytes.Equal(got.Secret, want.Secret), !bytes.Equal(got.PreviousSecret, want.PreviousSecret):
		t.Errorf("%s: metadata/secrets %q %x %x, want %q %x %x", what, got.Metadata, got.Secret, got.PreviousSecret,
			want.Metadata, want.Secret, want.PreviousSecret)
	case (got.PreviousSecretUntil == nil) != (want.PreviousSecretUntil == nil),
		got.PreviousSecretUntil != nil && !got.PreviousSecretUntil.Equal(*want.PreviousSecretUntil):
		t.Errorf("%s: previous secret until %v, want %v", what, got.PreviousSecretUntil, want.PreviousSecretUntil)
	case (got.FailingSince == nil) != (want.FailingSince == nil),
		got.FailingSince != nil && !got.FailingSince.Equal(*want.FailingSince):
		t.Errorf("%s: failing since %v, want %v", what, got.FailingSince, want.FailingSince)
	}
}

func (s endpointSuite) roundTrip(t *testing.T) {
	st := s.newStore(t)
	e := NewEndpoint(t, "https://merchant.example/hooks?x=1")
	e.EventTypes = []string{"invoice.sent", "order.paid"}
	e.Description = "main endpoint — é"
	e.RateLimitPerSecond = 50
	e.Metadata = []byte(`{"team":"payments","n":12345678901234567890}`)
	until := T0.Add(time.Hour)
	e.PreviousSecret, e.PreviousSecretUntil = []byte{9, 9}, &until
	created := createEndpoint(t, st, e, at(0))
	sameTime(t, "CreatedAt", created.CreatedAt, T0)
	sameTime(t, "UpdatedAt", created.UpdatedAt, T0)
	sameEndpoint(t, "CreateEndpoint", created, e)
	got, err := st.GetEndpoint(t.Context(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameEndpoint(t, "GetEndpoint", got, e)
	sameTime(t, "CreatedAt after Get", got.CreatedAt, T0)
	// An endpoint with nothing optional set.
	bare := createEndpoint(t, st, NewEndpoint(t, "http://b.example:8080/"), at(time.Second))
	if got, _ := st.GetEndpoint(t.Context(), bare.ID); len(got.EventTypes) != 0 || got.Metadata != nil || got.PreviousSecret != nil ||
		got.PreviousSecretUntil != nil || got.RateLimitPerSecond != 0 || got.Disabled {
		t.Errorf("bare endpoint read back as %+v", got)
	}
}

func (s endpointSuite) unknown(t *testing.T) {
	st := s.newStore(t)
	id := core.NewEndpointID(T0)
	if _, err := st.GetEndpoint(t.Context(), id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetEndpoint unknown = %v, want ErrNotFound", err)
	}
	if _, err := st.UpdateEndpoint(t.Context(), id, at(0), func(*core.Endpoint) error { return nil }); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("UpdateEndpoint unknown = %v, want ErrNotFound", err)
	}
	if err := st.DeleteEndpoint(t.Context(), id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("DeleteEndpoint unknown = %v, want ErrNotFound", err)
	}
	if _, err := st.GetEndpoint(t.Context(), "not-a-uuid"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetEndpoint of a malformed id = %v, want ErrNotFound", err)
	}
}

func (s endpointSuite) duplicate(t *testing.T) {
	st := s.newStore(t)
	e := createEndpoint(t, st, NewEndpoint(t, "https://a.example/"), at(0))
	_, err := st.CreateEndpoint(t.Context(), e, at(time.Second))
	var conflict *core.ConflictError
	if !errors.As(err, &conflict) {
		t.Errorf("second CreateEndpoint with one id = %v, want a *core.ConflictError", err)
	}
}

func (s endpointSuite) list(t *testing.T) {
	st := s.newStore(t)
	var want []core.EndpointID
	for i := range 5 {
		e := createEndpoint(t, st, NewEndpoint(t, fmt.Sprintf("https://m%d.example/", i)), at(time.Duration(i)*time.Second))
		want = append([]core.EndpointID{e.ID}, want...)
	}
	var got []core.EndpointID
	for page := 1; page <= 3; page++ {
		res, err := st.ListEndpoints(t.Context(), ports.EndpointFilter{Page: page, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != 5 {
			t.Errorf("page %d: total %d, want 5", page, res.Total)
		}
		for _, e := range res.Endpoints {
			got = append(got, e.ID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages = %v, want newest first %v", got, want)
	}
	res, err := st.ListEndpoints(t.Context(), ports.EndpointFilter{Page: 4, Limit: 2})
	if err != nil || len(res.Endpoints) != 0 || res.Total != 5 {
		t.Errorf("past the end: %d endpoints, total %d, %v", len(res.Endpoints), res.Total, err)
	}
}

func (s endpointSuite) update(t *testing.T) {
	st := s.newStore(t)
	e := createEndpoint(t, st, NewEndpoint(t, "https://a.example/"), at(0))
	until := T0.Add(24 * time.Hour)
	updated, err := st.UpdateEndpoint(t.Context(), e.ID, at(time.Minute), func(c *core.Endpoint) error {
		c.URL, c.Origin = "https://b.example:8443/x", "https://b.example:8443"
		c.EventTypes = []string{"order.paid"}
		c.Description = "moved"
		c.RateLimitPerSecond = 7
		c.Metadata = []byte(`{"a":1}`)
		c.Disabled, c.DisabledReason = true, "by hand"
		c.PreviousSecret, c.PreviousSecretUntil, c.Secret = c.Secret, &until, []byte("new")
		c.FailingSince = &until
		c.CreatedAt = T0.Add(99 * time.Hour) // not changeable
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := e
	want.URL, want.Origin, want.EventTypes, want.Description = "https://b.example:8443/x", "https://b.example:8443", []string{"order.paid"}, "moved"
	want.RateLimitPerSecond, want.Metadata, want.Disabled, want.DisabledReason = 7, []byte(`{"a":1}`), true, "by hand"
	want.PreviousSecret, want.PreviousSecretUntil, want.Secret = e.Secret, &until, []byte("new")
	want.FailingSince = &until
	sameEndpoint(t, "UpdateEndpoint", updated, want)
	got, _ := st.GetEndpoint(t.Context(), e.ID)
	sameEndpoint(t, "Get after update", got, want)
	sameTime(t, "CreatedAt", got.CreatedAt, T0)
	sameTime(t, "UpdatedAt", got.UpdatedAt, T0.Add(time.Minute))
	// And back: optional fields cleared.
	cleared, err := st.UpdateEndpoint(t.Context(), e.ID, at(2*time.Minute), func(c *core.Endpoint) error {
		c.EventTypes, c.Metadata, c.RateLimitPerSecond, c.Disabled, c.DisabledReason = nil, nil, 0, false, ""
		c.PreviousSecret, c.PreviousSecretUntil = nil, nil
		return nil
	})
	if err != nil || len(cleared.EventTypes) != 0 || cleared.Metadata != nil || cleared.PreviousSecret != nil || cleared.PreviousSecretUntil != nil || cleared.Disabled {
		t.Errorf("cleared = %+v, %v", cleared, err)
	}
}

func (s endpointSuite) updateError(t *testing.T) {
	st := s.newStore(t)
	e := createEndpoint(t, st, NewEndpoint(t, "https://a.example/"), at(0))
	boom := errors.New("refused")
	_, err := st.UpdateEndpoint(t.Context(), e.ID, at(time.Minute), func(c *core.Endpoint) error {
		c.Description = "half-written"
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateEndpoint = %v, want the change's error", err)
	}
	got, _ := st.GetEndpoint(t.Context(), e.ID)
	if got.Description != "" || !got.UpdatedAt.Equal(T0) {
		t.Errorf("a refused change was written: %+v", got)
	}
}

func (s endpointSuite) concurrentUpdates(t *testing.T) {
	st := s.newStore(t)
	e := createEndpoint(t, st, NewEndpoint(t, "https://a.example/"), at(0))
	const workers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := st.UpdateEndpoint(t.Context(), e.ID, at(time.Second), func(c *core.Endpoint) error {
					n, _ := strconv.Atoi(c.Description)
					c.Description = strconv.Itoa(n + 1)
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent UpdateEndpoint: %v", err)
	}
	if got, _ := st.GetEndpoint(t.Context(), e.ID); got.Description != strconv.Itoa(workers*each) {
		t.Errorf("after %d increments the counter is %q: updates were lost", workers*each, got.Description)
	}
}

func (s endpointSuite) delete(t *testing.T) {
	st := s.newStore(t)
	e := createEndpoint(t, st, NewEndpoint(t, "https://a.example/"), at(0))
	other := createEndpoint(t, st, NewEndpoint(t, "https://b.example/"), at(0))
	if err := st.DeleteEndpoint(t.Context(), e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetEndpoint(t.Context(), e.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get after delete = %v, want ErrNotFound", err)
	}
	if _, err := st.GetEndpoint(t.Context(), other.ID); err != nil {
		t.Errorf("deleting one endpoint touched another: %v", err)
	}
	if res, _ := st.ListEndpoints(t.Context(), ports.EndpointFilter{Page: 1, Limit: 10}); res.Total != 1 {
		t.Errorf("total after delete = %d, want 1", res.Total)
	}
}
