// Package httpapi is the HTTP front door of webhookd: gin handlers that
// translate JSON requests into calls on ports.Events and ports.Endpoints,
// and domain results and errors back into JSON. It owns the wire format
// (DTOs), the error envelope, authentication and request limits; it knows
// nothing of the store.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/ports"
)

// DefaultMaxBodyBytes bounds request bodies when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes int64 = 1 << 20

// Options configure the router.
type Options struct {
	// MaxBodyBytes bounds request bodies (MAX_PAYLOAD_BYTES); larger ones
	// get 413. Zero or less means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// APITokens (API_TOKENS): when non-empty, every route except GET /health
	// and GET /ready requires "Authorization: Bearer <token>".
	APITokens []string
	// Targets reports this process's circuit breakers for GET /targets;
	// nil lists none.
	Targets ports.TargetHealth
	// Endpoints manages merchants' endpoints under /endpoints; nil leaves
	// those routes out (they answer 404 route_not_found).
	Endpoints ports.Endpoints
	// Metrics, when set, serves GET /metrics (the Prometheus exposition),
	// behind the token like every route but the probes; nil leaves the
	// route out.
	Metrics http.Handler
	// Dashboard, when set, serves /dashboard and everything under it
	// (HTML, not the API: the OpenAPI document leaves it out). It does its
	// own authentication (a login form and a session cookie), so the
	// bearer token is not asked for there; nil leaves the routes out.
	Dashboard http.Handler
	// Logger receives server errors, panics and (at debug level) one line
	// per request. nil discards.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// api holds what the handlers share.
type api struct {
	events    ports.Events
	isReady   func(context.Context) error // /ready: events.Ready in the API
	breakers  ports.TargetHealth
	endpoints ports.Endpoints
	log       *slog.Logger
	maxBody   int64
}

// NewRouter returns the gin engine serving the webhookd API over events.
// It does not call gin.SetMode: the caller (wiring, tests) decides.
func NewRouter(events ports.Events, opts Options) *gin.Engine {
	opts.setDefaults()
	a := &api{events: events, isReady: events.Ready, breakers: opts.Targets, endpoints: opts.Endpoints, log: opts.Logger,
		maxBody: opts.MaxBodyBytes}

	r := a.engine(opts)
	r.POST("/events", a.submit)
	r.GET("/events", a.list)
	r.GET("/events/:id", a.get)
	r.POST("/events/recover", a.recoverEvents)
	r.POST("/events/:id/retry", a.retry)
	r.POST("/events/:id/deliveries/:delivery_id/retry", a.retryDelivery)
	r.GET("/targets", a.targets)
	r.GET("/openapi.json", openAPI)
	if a.endpoints != nil {
		r.POST("/endpoints", a.createEndpoint)
		r.GET("/endpoints", a.listEndpoints)
		r.GET("/endpoints/:id", a.getEndpoint)
		r.PATCH("/endpoints/:id", a.updateEndpoint)
		r.DELETE("/endpoints/:id", a.deleteEndpoint)
		r.GET("/endpoints/:id/secret", a.endpointSecret)
		r.POST("/endpoints/:id/secret/rotate", a.rotateEndpointSecret)
	}
	if opts.Dashboard != nil {
		h := gin.WrapH(opts.Dashboard)
		r.Any(dashboardPath, h)
		r.Any(dashboardPath+"/*path", h)
	}
	return r
}

// NewOpsRouter serves only the routes an operator's tools need, GET
// /health, /ready and /metrics (when opts.Metrics is set), with the same
// answers, errors and token rule as NewRouter: a process that runs no API
// (ROLE=worker), or the private port of METRICS_PORT (opts.APITokens
// empty there), serves it. ready reports whether the store answers, as
// ports.Events.Ready does.
func NewOpsRouter(ready func(context.Context) error, opts Options) *gin.Engine {
	opts.setDefaults()
	opts.Dashboard = nil // never on the operator's port
	a := &api{isReady: ready, log: opts.Logger, maxBody: opts.MaxBodyBytes}
	return a.engine(opts)
}

// engine is a router with the middleware, the error answers and the
// operator's routes every router shares.
func (a *api) engine(opts Options) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// Recovery first so that a panic anywhere below, auth included, still
	// gets a JSON 500.
	r.Use(a.recovery(), a.requestLog(), a.auth(opts.APITokens, opts.Dashboard != nil))
	r.NoRoute(func(c *gin.Context) { writeError(c, errRouteNotFound) })
	r.NoMethod(func(c *gin.Context) { writeError(c, errMethodNotAllowed) })
	r.GET("/health", a.health)
	r.GET("/ready", a.ready)
	if opts.Metrics != nil {
		r.GET("/metrics", gin.WrapH(opts.Metrics))
	}
	return r
}
