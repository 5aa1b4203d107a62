package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
	"github.com/shiphook/shiphook/web"
)

// Store is the one store the handlers share: both domain contracts.
type Store interface {
	subscriptions.Store
	dispatcher.Store
	SourceStore
	// ListDCSAFeed reads a page of a partner's DCSA feed.
	ListDCSAFeed(ctx context.Context, q dispatcher.DCSAFeedQuery) ([]dispatcher.DCSAFeedEntry, error)
	FeedStore
	LabelStore
}

// Deps is what the HTTP surface needs; every field is required.
type Deps struct {
	Store Store
	// Auth tells who holds an API key.
	Auth *subscriptions.Auth
	// Notifier is told when a partner's endpoints change.
	Notifier subscriptions.Notifier
	// Destinations checks endpoint URLs.
	Destinations *subscriptions.Destinations
	// Breakers tells the endpoints' breaker states.
	Breakers subscriptions.BreakerStates
	// Resumer resumes an endpoint's kept messages when it is enabled again.
	Resumer subscriptions.Resumer
	Ingest  dispatcher.Ingest
	Replay  dispatcher.Replay
	// Feed reads pull endpoints' feeds.
	Feed FeedReader
	// UserAgent is the User-Agent deliveries are sent with.
	UserAgent string
	// Ready lists what the service needs to take requests, for /readyz.
	Ready []Dependency
}

// New returns the whole HTTP surface of shiphook, in one table.
func New(d Deps) http.Handler {
	r := newEngine()
	console := gin.WrapH(web.Handler())
	r.GET(web.Prefix, console)
	r.HEAD(web.Prefix, console)
	r.GET(web.Prefix+"/*path", console)
	r.HEAD(web.Prefix+"/*path", console)
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, web.Prefix) })

	r.GET("/healthz", Healthz(nil))
	r.GET("/readyz", Readyz(d.Ready))
	r.GET(OpenAPIPath, OpenAPI())

	st := d.Store
	admin := allow(subscriptions.RoleAdmin)
	partnerOrAdmin := allow(subscriptions.RoleAdmin, subscriptions.RolePartner)
	ingestOrAdmin := allow(subscriptions.RoleAdmin, subscriptions.RoleIngest)

	v1 := r.Group("/v1", authenticate(d.Auth), storableParams())
	v1.GET("/me", Me())
	v1.GET("/event-types", ListEventTypes())

	v1.POST("/events", ingestOrAdmin, unbound(), PostEvent(d.Ingest))
	v1.POST("/events/batch", ingestOrAdmin, unbound(), PostBatch(d.Ingest))
	v1.GET("/events", admin, ListEvents(st))
	v1.GET("/events/:event_id", admin, GetEvent(st))

	sourceRoutes(r, v1, d, admin)

	v1.POST("/api-keys", admin, CreateAPIKey(st))
	v1.GET("/api-keys", admin, ListAPIKeys(st))
	v1.DELETE("/api-keys/:key_id", admin, DeleteAPIKey(st))

	v1.POST("/partners", admin, CreatePartner(st))
	v1.GET("/partners", admin, ListPartners(st, d.Breakers))
	v1.GET("/partners/:partner_id", partnerOrAdmin, GetPartner(st))
	v1.PATCH("/partners/:partner_id", admin, UpdatePartner(st, d.Notifier))
	v1.DELETE("/partners/:partner_id", admin, DeletePartner(st, d.Notifier))

	v1.POST("/partners/:partner_id/endpoints", partnerOrAdmin, CreateEndpoint(st, d.Destinations, d.Notifier))
	v1.GET("/partners/:partner_id/endpoints", partnerOrAdmin, ListEndpoints(st, d.Breakers))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id", partnerOrAdmin, GetEndpoint(st, d.Breakers))
	v1.PATCH("/partners/:partner_id/endpoints/:endpoint_id", partnerOrAdmin, UpdateEndpoint(EndpointUpdate{Store: st, Destinations: d.Destinations, Notifier: d.Notifier, Resumer: d.Resumer, Breakers: d.Breakers}))
	v1.DELETE("/partners/:partner_id/endpoints/:endpoint_id", partnerOrAdmin, DeleteEndpoint(st, d.Notifier))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id/health", partnerOrAdmin, GetEndpointHealth(st, d.Breakers))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id/feed", partnerOrAdmin, ReadFeed(st, d.Feed))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id/secret", partnerOrAdmin, GetSecret(st))
	v1.POST("/partners/:partner_id/endpoints/:endpoint_id/secret/rotate", partnerOrAdmin, RotateSecret(st, d.Notifier))

	v1.POST("/partners/:partner_id/endpoints/:endpoint_id/test", partnerOrAdmin, SendTest(st, d.Replay))
	v1.POST("/partners/:partner_id/endpoints/:endpoint_id/resend", partnerOrAdmin, Resend(st, d.Replay))
	v1.POST("/partners/:partner_id/endpoints/:endpoint_id/recover", partnerOrAdmin, StartRecover(st, d.Replay))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id/recover/:job_id", partnerOrAdmin, GetRecover(st))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id/dead-letters", partnerOrAdmin, EndpointDeadLetters(st))
	v1.GET("/dead-letters", admin, AllDeadLetters(st))

	v1.GET("/messages", admin, ListAllMessages(st))
	v1.GET("/partners/:partner_id/messages", partnerOrAdmin, ListPartnerMessages(st))
	v1.GET("/messages/:message_id", partnerOrAdmin, GetMessage(st))
	v1.GET("/messages/:message_id/attempts", partnerOrAdmin, ListAttempts(st))
	v1.POST("/messages/:message_id/retry", partnerOrAdmin, RetryMessage(st, d.Replay))
	v1.POST("/messages/:message_id/discard", partnerOrAdmin, DiscardMessage(st, d.Replay))
	v1.GET("/attempts", admin, SearchAllAttempts(st))
	v1.GET("/partners/:partner_id/attempts", partnerOrAdmin, SearchPartnerAttempts(st))
	v1.GET("/attempts/:attempt_id", partnerOrAdmin, GetAttempt(st, d.UserAgent))

	v1.PUT("/shipments/:shipment_id", ingestOrAdmin, unbound(), PutShipment(st))
	v1.GET("/shipments", partnerOrAdmin, FindShipments(st))
	v1.GET("/shipments/:shipment_id", partnerOrAdmin, GetShipment(st))
	v1.GET("/shipments/:shipment_id/timeline", partnerOrAdmin, GetTimeline(st))

	// DCSA Track & Trace 2.2's GET /v2/events, for a partner's DCSA client.
	r.GET(DCSAPath, dcsaVersion(), authenticate(d.Auth), storableParams(), partnerOrAdmin, ListDCSAEvents(st))
	return r
}

// sourceRoutes adds the routes of sources and their payloads to New's
// table: r for those a DCSA source's signature authenticates, v1 for the
// rest.
func sourceRoutes(r *gin.Engine, v1 *gin.RouterGroup, d Deps, admin gin.HandlerFunc) {
	st := d.Store
	// A source's payloads: a DCSA source's are authenticated by their
	// signature, not an API key (sourceAuth), and its callback URL is
	// checked with an unauthenticated HEAD.
	r.HEAD("/v1/sources/:source_id/events", storableParams(), SourceHead(st))
	r.POST("/v1/sources/:source_id/events", storableParams(), sourceAuth(st, d.Auth), PostSourceEvents(d.Ingest))
	v1.POST("/sources", admin, CreateSource(st))
	v1.GET("/sources", admin, ListSources(st))
	v1.GET("/sources/:source_id", admin, GetSource(st))
	v1.PATCH("/sources/:source_id", admin, UpdateSource(st))
	v1.DELETE("/sources/:source_id", admin, DeleteSource(st))
	v1.GET("/sources/:source_id/secret", admin, GetSourceSecret(st))
	v1.POST("/sources/:source_id/mapping/test", admin, TestMapping(st))
	v1.GET("/sources/:source_id/items", admin, ListSourceItems(st))
	v1.GET("/sources/:source_id/items/:item_id", admin, GetSourceItem(st))
	v1.POST("/sources/:source_id/items/:item_id/replay", admin, ReplaySourceItem(st, d.Ingest))
}

// Probes returns the HTTP surface of a process that serves no API (a
// worker): GET /healthz, 503 once alive returns an error, and GET /readyz
// over ready, as in New.
func Probes(alive func(now time.Time) error, ready []Dependency) http.Handler {
	r := newEngine()
	r.GET("/healthz", Healthz(alive))
	r.GET("/readyz", Readyz(ready))
	return r
}

// newEngine returns a gin engine whose unknown routes and methods answer
// shiphook's JSON errors.
func newEngine() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) {
		abort(c, errorf(http.StatusNotFound, "route_not_found", "no route %s %s; see the README for the API", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		abort(c, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})
	return r
}
