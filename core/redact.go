package core

import (
	"net/url"
	"strings"
)

// RedactURL returns a target URL fit for logs: scheme, host, port and path.
// User-info and the query string often carry a merchant's credentials
// (https://user:pass@…, ?api_key=…) and logs travel further than the
// database, so each is replaced by REDACTED; the fragment is dropped (it is
// never sent). A value that does not parse as an absolute URL is redacted
// whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "REDACTED"
	}
	s := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
	if u.User != nil {
		s = strings.Replace(s, "://", "://REDACTED@", 1)
	}
	if u.RawQuery != "" || u.ForceQuery {
		s += "?REDACTED"
	}
	return s
}
