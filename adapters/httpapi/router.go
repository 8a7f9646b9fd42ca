// Package httpapi is the HTTP front door of webhookd: gin handlers that
// translate JSON requests into calls on ports.Events and ports.Endpoints,
// and domain results and errors back into JSON. It owns the wire format
// (DTOs), the error envelope, authentication and request limits; it knows
// nothing of the store.
package httpapi

import (
	"log/slog"

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
	breakers  ports.TargetHealth
	endpoints ports.Endpoints
	log       *slog.Logger
	maxBody   int64
}

// NewRouter returns the gin engine serving the webhookd API over events.
// It does not call gin.SetMode: the caller (wiring, tests) decides.
func NewRouter(events ports.Events, opts Options) *gin.Engine {
	opts.setDefaults()
	a := &api{events: events, breakers: opts.Targets, endpoints: opts.Endpoints, log: opts.Logger, maxBody: opts.MaxBodyBytes}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	// Recovery first so that a panic anywhere below, auth included, still
	// gets a JSON 500.
	r.Use(a.recovery(), a.requestLog(), a.auth(opts.APITokens))
	r.NoRoute(func(c *gin.Context) { writeError(c, errRouteNotFound) })
	r.NoMethod(func(c *gin.Context) { writeError(c, errMethodNotAllowed) })

	r.GET("/health", a.health)
	r.GET("/ready", a.ready)
	r.POST("/events", a.submit)
	r.GET("/events", a.list)
	r.GET("/events/:id", a.get)
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
	return r
}
