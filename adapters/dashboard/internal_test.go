package dashboard

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestSafeReturn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/dashboard", "/dashboard"},
		{"/dashboard/events?status=dead&cursor=abc", "/dashboard/events?status=dead&cursor=abc"},
		{"/dashboard/endpoints/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70", "/dashboard/endpoints/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70"},
		{"", "F"},
		{"/dashboard/", "F"}, // not clean
		{"/dashboard/../events", "F"},
		{"/dashboard/%2e%2e/events", "F"},
		{"/dashboard//evil.example", "F"},
		{"/dashboardx", "F"},
		{"/events", "F"},
		{"//evil.example/dashboard", "F"},
		{"https://evil.example/dashboard", "F"},
		{"http:/dashboard", "F"},
		{"javascript:alert(1)", "F"},
		{`/dashboard\evil`, "F"},
		{"/dashboard\r\nSet-Cookie: x=1", "F"},
		{"dashboard/events", "F"},
	} {
		if got := safeReturn(tc.in, "F"); got != tc.want {
			t.Errorf("safeReturn(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		headers []string
		want    bool
	}{
		{nil, true},
		{[]string{"Sec-Fetch-Site", "same-origin", "Origin", "http://example.com"}, true},
		{[]string{"Origin", "https://EXAMPLE.com"}, true},
		{[]string{"Sec-Fetch-Site", "none"}, true},
		{[]string{"Sec-Fetch-Site", "cross-site"}, false},
		{[]string{"Origin", "https://evil.example"}, false},
		{[]string{"Origin", "http://example.com:8080"}, false},
		{[]string{"Origin", "null"}, false},
		{[]string{"Origin", "https://dash.example", "X-Forwarded-Host", "dash.example"}, true},
		{[]string{"Origin", "https://evil.example", "X-Forwarded-Host", "dash.example"}, false},
	} {
		r := httptest.NewRequest("POST", "/dashboard/recover", nil)
		for i := 0; i+1 < len(tc.headers); i += 2 {
			r.Header.Set(tc.headers[i], tc.headers[i+1])
		}
		if got := sameOrigin(r); got != tc.want {
			t.Errorf("sameOrigin(%v) = %v, want %v", tc.headers, got, tc.want)
		}
	}
}

func TestYScale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ peak, step, top int64 }{
		{0, 1, 4}, {1, 1, 1}, {3, 1, 3}, {4, 1, 4}, {5, 2, 6}, {7, 2, 8}, {9, 5, 10}, {20, 5, 20},
		{21, 10, 30}, {100, 50, 100}, {12345, 5000, 15000},
	} {
		step, top := yScale(tc.peak)
		if step != tc.step || top != tc.top {
			t.Errorf("yScale(%d) = %d, %d; want %d, %d", tc.peak, step, top, tc.step, tc.top)
		}
		if top < tc.peak || top/step > maxYTicks-1 {
			t.Errorf("yScale(%d): top %d, %d intervals", tc.peak, top, top/step)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0s", 400 * time.Millisecond: "0s", 42 * time.Second: "42s", 95 * time.Second: "1m 35s",
		2*time.Hour + 10*time.Minute + 5*time.Second: "2h 10m", 76 * time.Hour: "3d 4h",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestParseWhen(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	for _, in := range []string{"2026-12-01T09:30", "2026-12-01T09:30:00", "2026-12-01T09:30:00.000", "2026-12-01T09:30:00Z",
		"2026-12-01T10:30:00+01:00", " 2026-12-01T09:30 "} {
		got, err := parseWhen("created_after", in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseWhen(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"yesterday", "2026-12-01", "09:30", "2026-13-01T09:30"} {
		if _, err := parseWhen("created_after", in); err == nil {
			t.Errorf("parseWhen(%q) accepted", in)
		}
	}
	if got := localValue(want); got != "2026-12-01T09:30:00" {
		t.Errorf("localValue = %q", got)
	}
}

func TestSplitTypes(t *testing.T) {
	t.Parallel()
	got := splitTypes(" order.paid, order.refunded\tinvoice.sent,,\n")
	if len(got) != 3 || got[0] != "order.paid" || got[1] != "order.refunded" || got[2] != "invoice.sent" {
		t.Errorf("splitTypes = %q", got)
	}
	if got := splitTypes("  "); len(got) != 0 {
		t.Errorf("splitTypes(blank) = %q", got)
	}
}
