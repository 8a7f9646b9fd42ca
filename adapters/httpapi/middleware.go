package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// loggerKey holds the logger in the gin context, so that writeError (a
// plain function) can log what it must not show the client.
const loggerKey = "httpapi.logger"

func loggerOf(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		if log, ok := l.(*slog.Logger); ok {
			return log
		}
	}
	return slog.Default()
}

// recovery turns a panic into a logged error and a JSON 500; the stack
// goes to the log, never to the client.
func (a *api) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(loggerKey, a.log)
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p) // net/http's way to abort a response silently
			}
			a.log.LogAttrs(c.Request.Context(), slog.LevelError, "panic serving request",
				slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path),
				slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
			if c.Writer.Written() {
				c.Abort() // too late for a clean answer
				return
			}
			writeError(c, errPanic)
		}()
		c.Next()
	}
}

// requestLog writes one debug line per request, and costs nothing when
// debug logging is off.
func (a *api) requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !a.log.Enabled(c.Request.Context(), slog.LevelDebug) {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		a.log.LogAttrs(c.Request.Context(), slog.LevelDebug, "http request",
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", c.Writer.Status()),
			slog.Int("bytes", c.Writer.Size()),
			slog.Duration("took", time.Since(start)))
	}
}

// auth requires a bearer token from tokens on every path but the probes
// and, when a dashboard is mounted, /dashboard and /dashboard/…: the
// dashboard asks for a token itself, through its login form. With no
// tokens configured the API is open. Tokens are compared as SHA-256
// digests in constant time, so neither a token's content nor its length
// leaks through timing.
func (a *api) auth(tokens []string, dashboard bool) gin.HandlerFunc {
	if len(tokens) == 0 {
		return func(c *gin.Context) { c.Next() }
	}
	// An empty entry (e.g. API_TOKENS="a,,b") must never match a missing
	// token: skip it. If nothing is left the API stays closed.
	digests := make([][sha256.Size]byte, 0, len(tokens))
	for _, t := range tokens {
		if t != "" {
			digests = append(digests, sha256.Sum256([]byte(t)))
		}
	}
	return func(c *gin.Context) {
		if p := c.Request.URL.Path; p == "/health" || p == "/ready" || dashboard && isDashboardPath(p) {
			c.Next()
			return
		}
		if !validBearer(c.GetHeader("Authorization"), digests) {
			writeError(c, errUnauthorized)
			return
		}
		c.Next()
	}
}

// dashboardPath is where Options.Dashboard is mounted.
const dashboardPath = "/dashboard"

// isDashboardPath reports whether p is the dashboard's: /dashboard itself
// or under /dashboard/ (not /dashboardx). The router sends exactly these
// paths to the dashboard, which cleans them itself (a /dashboard/../x
// is redirected to /x, where this check applies again).
func isDashboardPath(p string) bool {
	return p == dashboardPath || strings.HasPrefix(p, dashboardPath+"/")
}

func validBearer(header string, digests [][sha256.Size]byte) bool {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	match := 0
	for _, d := range digests { // no early exit: every token costs the same
		match |= subtle.ConstantTimeCompare(got[:], d[:])
	}
	return match == 1
}
