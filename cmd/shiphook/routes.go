package main

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// api is what the HTTP surface needs.
type api struct {
	store     storeAll
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
	ingest := dispatcher.IngestDeps{Store: a.store, Partners: a.store, Queue: a.queue}
	admin := subscriptions.Require(subscriptions.RoleAdmin)
	partnerOrAdmin := subscriptions.Require(subscriptions.RoleAdmin, subscriptions.RolePartner)
	ingestOrAdmin := subscriptions.Require(subscriptions.RoleAdmin, subscriptions.RoleIngest)

	v1 := r.Group("/v1", a.auth.Middleware())
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

	v1.GET("/partners/:partner_id/messages", partnerOrAdmin, dispatcher.ListMessages(a.store, a.store))
	v1.GET("/messages/:message_id", partnerOrAdmin, dispatcher.GetMessage(a.store))
	v1.GET("/messages/:message_id/attempts", partnerOrAdmin, dispatcher.ListAttempts(a.store))
	return r
}
