package endpoints_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/endpoints"
	"github.com/webhookd/webhookd/core/secretbox"
	"github.com/webhookd/webhookd/ports"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type env struct {
	svc   *endpoints.Service
	store *memory.Store
	clock *memory.Clock
}

func newEnv(t *testing.T, policy core.AddressPolicy) env {
	t.Helper()
	clock := memory.NewClock(t0)
	store := memory.NewStore(clock)
	box, err := secretbox.New(bytes.Repeat([]byte{42}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := endpoints.NewService(store, box, clock, nil, endpoints.Config{Addresses: policy, RotationGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return env{svc: svc, store: store, clock: clock}
}

func field(err error) string {
	var v *core.ValidationError
	if errors.As(err, &v) {
		return v.Field
	}
	return ""
}

func key(t *testing.T, secret string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q is not whsec_<base64>", secret)
	}
	return k
}

func TestCreateSealsAGeneratedSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t, core.AddressPolicy{})
	created, err := e.svc.Create(t.Context(), ports.EndpointSpec{URL: "https://merchant.example/hooks",
		EventTypes: []string{"order.paid", "invoice.sent", "order.paid"}, Description: "main"})
	if err != nil {
		t.Fatal(err)
	}
	k := key(t, created.Secret)
	if len(k) != 32 {
		t.Errorf("generated key is %d bytes, want 32", len(k))
	}
	stored, _ := e.store.GetEndpoint(t.Context(), created.Endpoint.ID)
	if bytes.Contains(stored.Secret, k) {
		t.Errorf("the store holds the key in the clear")
	}
	if got := stored.EventTypes; len(got) != 2 || got[0] != "invoice.sent" || got[1] != "order.paid" {
		t.Errorf("event types stored as %q, want sorted without duplicates", got)
	}
	if stored.Origin != "https://merchant.example:443" {
		t.Errorf("origin %q", stored.Origin)
	}
	if s, err := e.svc.Secret(t.Context(), created.Endpoint.ID); err != nil || s != created.Secret {
		t.Errorf("Secret = %q, %v; want the one Create returned", s, err)
	}
	other, _ := e.svc.Create(t.Context(), ports.EndpointSpec{URL: "https://merchant.example/hooks"})
	if other.Secret == created.Secret {
		t.Errorf("two endpoints got the same generated secret")
	}
}

func TestCreateValidates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, core.AddressPolicy{})
	given := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 24))
	if c, err := e.svc.Create(t.Context(), ports.EndpointSpec{URL: "https://a.example/", Secret: given}); err != nil || c.Secret != given {
		t.Fatalf("Create with a 24-byte secret = %q, %v", c.Secret, err)
	}
	for _, tc := range []struct {
		spec  ports.EndpointSpec
		field string
	}{
		{ports.EndpointSpec{URL: ""}, "url"},
		{ports.EndpointSpec{URL: "ftp://a.example/"}, "url"},
		{ports.EndpointSpec{URL: "http://10.0.0.1/hook"}, "url"},
		{ports.EndpointSpec{URL: "http://localhost:3001/hook"}, "url"},
		{ports.EndpointSpec{URL: "https://a.example/", EventTypes: []string{"order..paid"}}, "event_types"},
		{ports.EndpointSpec{URL: "https://a.example/", EventTypes: []string{"a b"}}, "event_types"},
		{ports.EndpointSpec{URL: "https://a.example/", Secret: "plain-text-secret-of-enough-length-xx"}, "secret"},
		{ports.EndpointSpec{URL: "https://a.example/", Secret: "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23))}, "secret"},
		{ports.EndpointSpec{URL: "https://a.example/", Secret: "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65))}, "secret"},
		{ports.EndpointSpec{URL: "https://a.example/", RateLimitPerSecond: -1}, "rate_limit_per_second"},
		{ports.EndpointSpec{URL: "https://a.example/", Metadata: []byte(`[1]`)}, "metadata"},
		{ports.EndpointSpec{URL: "https://a.example/", Description: strings.Repeat("x", 1025)}, "description"},
	} {
		if _, err := e.svc.Create(t.Context(), tc.spec); field(err) != tc.field {
			t.Errorf("Create(%+v) = %v, want a validation error on %s", tc.spec, err, tc.field)
		}
	}
	if res, _ := e.store.ListEndpoints(t.Context(), ports.EndpointFilter{Page: 1, Limit: 100}); res.Total != 1 {
		t.Errorf("%d endpoints stored, want only the valid one", res.Total)
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, core.AddressPolicy{})
	c, _ := e.svc.Create(t.Context(), ports.EndpointSpec{URL: "https://a.example/", RateLimitPerSecond: 5})
	id := c.Endpoint.ID
	url, types, yes, zero, meta := "https://b.example/x", []string{"order.paid"}, true, 0, []byte(` {"k": 1} `)
	got, err := e.svc.Update(t.Context(), id, ports.EndpointPatch{URL: &url, EventTypes: &types, Disabled: &yes,
		RateLimitPerSecond: &zero, Metadata: &meta})
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != url || got.Origin != "https://b.example:443" || len(got.EventTypes) != 1 || !got.Disabled ||
		got.DisabledReason != endpoints.ReasonDisabledByRequest || got.RateLimitPerSecond != 0 || string(got.Metadata) != `{"k":1}` {
		t.Errorf("after the patch: %+v", got)
	}
	// As if it had been failing (the worker keeps this).
	since := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := e.store.UpdateEndpoint(t.Context(), id, nil, func(ep *core.Endpoint) error { ep.FailingSince = &since; return nil }); err != nil {
		t.Fatal(err)
	}
	no := false
	if got, _ = e.svc.Update(t.Context(), id, ports.EndpointPatch{Disabled: &no}); got.Disabled || got.DisabledReason != "" || got.FailingSince != nil {
		t.Errorf("re-enabled: disabled %v, reason %q, failing since %v; want a fresh start", got.Disabled, got.DisabledReason, got.FailingSince)
	}
	bad, before := "http://169.254.169.254/", got
	if _, err := e.svc.Update(t.Context(), id, ports.EndpointPatch{URL: &bad, Disabled: &yes}); field(err) != "url" {
		t.Errorf("patch to a metadata address = %v, want refused on url", err)
	}
	if after, _ := e.svc.Get(t.Context(), id); after.Disabled != before.Disabled || after.URL != before.URL {
		t.Errorf("a refused patch changed the endpoint: %+v", after)
	}
	if _, err := e.svc.Update(t.Context(), core.NewEndpointID(t0), ports.EndpointPatch{}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("patch of an unknown endpoint = %v, want ErrNotFound", err)
	}
}

func TestRotateKeepsThePreviousSecretForTheGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, core.AddressPolicy{})
	c, _ := e.svc.Create(t.Context(), ports.EndpointSpec{URL: "https://a.example/"})
	e.clock.Advance(time.Minute)
	rotated, err := e.svc.RotateSecret(t.Context(), c.Endpoint.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if rotated == c.Secret {
		t.Fatalf("rotation kept the secret")
	}
	if s, _ := e.svc.Secret(t.Context(), c.Endpoint.ID); s != rotated {
		t.Errorf("Secret after rotation = %q, want %q", s, rotated)
	}
	stored, _ := e.store.GetEndpoint(t.Context(), c.Endpoint.ID)
	if !bytes.Equal(stored.PreviousSecret, c.Endpoint.Secret) || stored.PreviousSecretUntil == nil ||
		!stored.PreviousSecretUntil.Equal(t0.Add(time.Minute+time.Hour)) {
		t.Errorf("previous secret %x until %v; want the old sealed secret until now + 1h", stored.PreviousSecret, stored.PreviousSecretUntil)
	}
	given := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 40))
	if s, err := e.svc.RotateSecret(t.Context(), c.Endpoint.ID, given); err != nil || s != given {
		t.Errorf("rotate to a given secret = %q, %v", s, err)
	}
	if _, err := e.svc.RotateSecret(t.Context(), c.Endpoint.ID, "whsec_short"); field(err) != "secret" {
		t.Errorf("rotate to a bad secret = %v, want refused on secret", err)
	}
	if _, err := e.svc.RotateSecret(t.Context(), core.NewEndpointID(t0), ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("rotate unknown = %v, want ErrNotFound", err)
	}
}
