// Package dashboard holds the dashboard's browser tests: a headless
// Chromium (driven with chromedp) against the real dispatcher binary on a
// real store (a SQLite file, and PostgreSQL when TEST_DATABASE_URL is set)
// delivering to the real mock receiver. They check the pages' contract
// (ids, classes, data-page), the flows an operator clicks through (replay,
// recover, endpoint secrets shown once, login, CSRF refusals) and that no
// page writes an error to the browser console (a CSP violation included).
//
// Without a chromium on PATH (or CHROMIUM_PATH) the tests skip, unless
// WEBHOOKD_REQUIRE_BROWSER=1 (CI): then they fail. With
// WEBHOOKD_SCREENSHOTS=dir, TestScreenshots writes the README's two
// screenshots (dashboard-overview.png, dashboard-event.png) into dir, a
// path relative to the module root:
//
//	WEBHOOKD_SCREENSHOTS=docs go test -run TestScreenshots ./test/dashboard/
package dashboard
