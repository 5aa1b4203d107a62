package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// The replay handlers' operations; dispatcher.Replay does them all.
type (
	retrier interface {
		Retry(ctx context.Context, messageID string) (dispatcher.Message, error)
	}
	discarder interface {
		Discard(ctx context.Context, messageID string) (dispatcher.Message, error)
	}
	resender interface {
		Resend(ctx context.Context, ep subscriptions.Endpoint, eventID string) (dispatcher.Message, error)
	}
	testSender interface {
		SendTest(ctx context.Context, ep subscriptions.Endpoint, typ string) (dispatcher.SentTest, error)
	}
	recoverStarter interface {
		StartRecover(ctx context.Context, ep subscriptions.Endpoint, in dispatcher.RecoverInput) (dispatcher.RecoverJob, error)
	}
)

// RetryMessage handles POST /v1/messages/{message_id}/retry: one attempt
// now, whatever the message's status (but 409 delivery_in_progress while
// an attempt is under way). If it fails, the rest of the retry schedule,
// if any, follows.
//
// A pull endpoint's message is not retried (409 pull_endpoint): its
// partner reads it again from the feed, with an earlier cursor.
func RetryMessage(st interface {
	messageGetter
	endpointGetter
}, r retrier) gin.HandlerFunc {
	return func(c *gin.Context) {
		m, err := visibleMessage(c, st)
		if err == nil {
			err = notPull(c.Request.Context(), st, m.EndpointID)
		}
		if err == nil {
			m, err = r.Retry(c.Request.Context(), m.ID)
		}
		respond(c, http.StatusAccepted, m, err)
	}
}

// DiscardMessage handles POST /v1/messages/{message_id}/discard: the
// message ends without delivery (status discarded) and, at an ordered
// endpoint, the next message of its shipment goes on. Only a failed,
// pending, held or disabled message may be discarded (409 otherwise).
func DiscardMessage(st messageGetter, r discarder) gin.HandlerFunc {
	return func(c *gin.Context) {
		m, err := visibleMessage(c, st)
		if err == nil {
			m, err = r.Discard(c.Request.Context(), m.ID)
		}
		respond(c, http.StatusOK, m, err)
	}
}

// notPull returns a 409 pull_endpoint error if endpoint id is a pull
// endpoint, whose messages are read from its feed and never sent; nil if
// it is a webhook endpoint or gone.
func notPull(ctx context.Context, st endpointGetter, id string) error {
	ep, err := st.Endpoint(ctx, id)
	switch {
	case errors.Is(err, subscriptions.ErrNotFound):
		return nil
	case err != nil:
		return err
	case ep.Pull():
		return pullRefused(ep)
	}
	return nil
}

// pullRefused is the answer to a delivery asked of pull endpoint ep.
func pullRefused(ep subscriptions.Endpoint) error {
	return errorf(http.StatusConflict, "pull_endpoint",
		"endpoint %s is a pull endpoint: nothing is sent to it; its partner reads its messages from GET …/endpoints/%s/feed, and may read again from an earlier cursor", ep.ID, ep.ID)
}

// Resend handles POST …/endpoints/{endpoint_id}/resend {"event_id"}: the
// event goes to this endpoint once more (or for the first time, even if
// the endpoint does not subscribe to it), as a manual attempt.
func Resend(st endpointGetter, r resender) gin.HandlerFunc {
	type input struct {
		EventID string `json:"event_id"`
	}
	return endpointAction(st, func(ctx context.Context, ep subscriptions.Endpoint, in input) (dispatcher.Message, error) {
		return r.Resend(ctx, ep, in.EventID)
	})
}

// SendTest handles POST …/endpoints/{endpoint_id}/test {"type"}: the
// catalog's example of that type, for a made-up shipment, goes to this
// endpoint only.
func SendTest(st endpointGetter, r testSender) gin.HandlerFunc {
	type input struct {
		Type string `json:"type"`
	}
	return endpointAction(st, func(ctx context.Context, ep subscriptions.Endpoint, in input) (dispatcher.SentTest, error) {
		return r.SendTest(ctx, ep, in.Type)
	})
}

// StartRecover handles POST …/endpoints/{endpoint_id}/recover {"since",
// "until"?}: a background job puts every failed message of the endpoint
// created in that range back on the schedule. Calling it again while the
// job runs returns the same job.
func StartRecover(st endpointGetter, r recoverStarter) gin.HandlerFunc {
	return endpointAction(st, r.StartRecover)
}

// endpointAction handles a POST on the endpoint the route names: do gets
// the endpoint and the body, decoded into an In, and what it returns is
// answered 202. Every such action sends: a pull endpoint is refused (409
// pull_endpoint).
func endpointAction[In, Out any](st endpointGetter, do func(context.Context, subscriptions.Endpoint, In) (Out, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		ep, err := visibleEndpoint(c, st)
		if err == nil && ep.Pull() {
			err = pullRefused(ep)
		}
		if err != nil {
			abort(c, err)
			return
		}
		var in In
		if err := bindJSON(c, &in); err != nil {
			abort(c, err)
			return
		}
		out, err := do(c.Request.Context(), ep, in)
		respond(c, http.StatusAccepted, out, err)
	}
}

type recoverJobGetter interface {
	endpointGetter
	RecoverJob(ctx context.Context, id string) (dispatcher.RecoverJob, error)
}

// GetRecover handles GET …/endpoints/{endpoint_id}/recover/{job_id}.
func GetRecover(st recoverJobGetter) gin.HandlerFunc {
	return func(c *gin.Context) {
		ep, err := visibleEndpoint(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		job, err := st.RecoverJob(c.Request.Context(), c.Param("job_id"))
		if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && job.EndpointID != ep.ID) {
			err = notFound("recovery job %s not found", c.Param("job_id"))
		}
		respond(c, http.StatusOK, job, err)
	}
}
