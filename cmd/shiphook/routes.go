package main

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
	"github.com/shiphook/shiphook/web"
)

// api is what the HTTP surface needs.
type api struct {
	store storeAll
	// events is the delivery workers' event cache when they run in this
	// process; nil otherwise.
	events *dispatcher.EventCache
	// fanout is the delivery workers when they run in this process; nil
	// otherwise.
	fanout dispatcher.LocalFanout
	// partners answers the ingest API's checks of the parties named.
	partners  dispatcher.PartnerChecker
	auth      *subscriptions.Auth
	notifier  subscriptions.Notifier
	dest      *subscriptions.Destinations
	queue     *dispatcher.Queue
	guard     *dispatcher.Guard
	resumer   *dispatcher.Resumer
	readiness func(ctx context.Context) error
}

// routes returns the whole HTTP surface of shiphook, in one table.
func routes(a api) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) {
		subscriptions.Abort(c, subscriptions.Errorf(http.StatusNotFound, "route_not_found", "no route %s %s; see the README for the API", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		subscriptions.Abort(c, subscriptions.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})

	console := gin.WrapH(web.Handler())
	r.GET(web.Prefix, console)
	r.HEAD(web.Prefix, console)
	r.GET(web.Prefix+"/*path", console)
	r.HEAD(web.Prefix+"/*path", console)
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, web.Prefix) })

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := a.readiness(ctx); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})

	eps := subscriptions.EndpointDeps{Store: a.store, Notifier: a.notifier, Destinations: a.dest, Breakers: a.guard, Resumer: a.resumer}
	ingest := dispatcher.IngestDeps{Store: a.store, Partners: a.partners, Queue: a.queue, Fanout: a.fanout, Events: a.events}
	admin := subscriptions.Require(subscriptions.RoleAdmin)
	partnerOrAdmin := subscriptions.Require(subscriptions.RoleAdmin, subscriptions.RolePartner)
	ingestOrAdmin := subscriptions.Require(subscriptions.RoleAdmin, subscriptions.RoleIngest)

	replay := dispatcher.ReplayDeps{Store: a.store, Partners: a.store, Queue: a.queue}

	v1 := r.Group("/v1", a.auth.Middleware())
	v1.GET("/me", subscriptions.Me())
	v1.GET("/event-types", subscriptions.ListEventTypes())

	v1.POST("/events", ingestOrAdmin, dispatcher.PostEvent(ingest))
	v1.POST("/events/batch", ingestOrAdmin, dispatcher.PostBatch(ingest))
	v1.GET("/events", admin, dispatcher.ListEvents(a.store))
	v1.GET("/events/:event_id", admin, dispatcher.GetEvent(a.store))

	v1.POST("/api-keys", admin, subscriptions.CreateAPIKey(a.store))
	v1.GET("/api-keys", admin, subscriptions.ListAPIKeys(a.store))
	v1.DELETE("/api-keys/:key_id", admin, subscriptions.DeleteAPIKey(a.store))

	v1.POST("/partners", admin, subscriptions.CreatePartner(a.store))
	v1.GET("/partners", admin, subscriptions.ListPartners(a.store))
	v1.GET("/partners/:partner_id", partnerOrAdmin, subscriptions.GetPartner(a.store))
	v1.PATCH("/partners/:partner_id", admin, subscriptions.UpdatePartner(a.store, a.notifier))
	v1.DELETE("/partners/:partner_id", admin, subscriptions.DeletePartner(a.store, a.notifier))

	v1.POST("/partners/:partner_id/endpoints", partnerOrAdmin, subscriptions.CreateEndpoint(eps))
	v1.GET("/partners/:partner_id/endpoints", partnerOrAdmin, subscriptions.ListEndpoints(eps))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id", partnerOrAdmin, subscriptions.GetEndpoint(eps))
	v1.PATCH("/partners/:partner_id/endpoints/:endpoint_id", partnerOrAdmin, subscriptions.UpdateEndpoint(eps))
	v1.DELETE("/partners/:partner_id/endpoints/:endpoint_id", partnerOrAdmin, subscriptions.DeleteEndpoint(eps))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id/health", partnerOrAdmin, dispatcher.GetEndpointHealth(a.store, a.store, a.guard))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id/secret", partnerOrAdmin, subscriptions.GetSecret(eps))
	v1.POST("/partners/:partner_id/endpoints/:endpoint_id/secret/rotate", partnerOrAdmin, subscriptions.RotateSecret(eps))

	v1.POST("/partners/:partner_id/endpoints/:endpoint_id/test", partnerOrAdmin, dispatcher.SendTest(replay))
	v1.POST("/partners/:partner_id/endpoints/:endpoint_id/resend", partnerOrAdmin, dispatcher.Resend(replay))
	v1.POST("/partners/:partner_id/endpoints/:endpoint_id/recover", partnerOrAdmin, dispatcher.StartRecover(replay))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id/recover/:job_id", partnerOrAdmin, dispatcher.GetRecover(replay))
	v1.GET("/partners/:partner_id/endpoints/:endpoint_id/dead-letters", partnerOrAdmin, dispatcher.DeadLetters(a.store, a.store, false))
	v1.GET("/dead-letters", admin, dispatcher.DeadLetters(a.store, a.store, true))

	v1.GET("/messages", admin, dispatcher.ListMessages(a.store, a.store, true))
	v1.GET("/partners/:partner_id/messages", partnerOrAdmin, dispatcher.ListMessages(a.store, a.store, false))
	v1.GET("/messages/:message_id", partnerOrAdmin, dispatcher.GetMessage(a.store))
	v1.GET("/messages/:message_id/attempts", partnerOrAdmin, dispatcher.ListAttempts(a.store))
	v1.POST("/messages/:message_id/retry", partnerOrAdmin, dispatcher.RetryMessage(replay))
	v1.GET("/attempts", admin, dispatcher.SearchAttempts(a.store, a.store, true))
	v1.GET("/partners/:partner_id/attempts", partnerOrAdmin, dispatcher.SearchAttempts(a.store, a.store, false))
	v1.GET("/attempts/:attempt_id", partnerOrAdmin, dispatcher.GetAttempt(a.store, a.store, "shiphook/"+version))

	v1.GET("/shipments/:shipment_id/timeline", partnerOrAdmin, dispatcher.GetTimeline(a.store, a.store))
	return r
}
