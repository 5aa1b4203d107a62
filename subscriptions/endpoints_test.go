package subscriptions_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

// TestPullEndpoint checks what a pull endpoint is made and changed with:
// no URL and no delivery option, and a kind that never changes.
func TestPullEndpoint(t *testing.T) {
	ctx := context.Background()
	pull, webhook := subscriptions.KindPull, subscriptions.KindWebhook
	desc := "read by the ERP"
	e, err := subscriptions.NewEndpoint(ctx, nil, "acme", subscriptions.EndpointInput{Kind: &pull, Description: &desc})
	require.NoError(t, err)
	require.True(t, e.Pull())
	require.Empty(t, e.URL)
	raw, err := json.Marshal(e)
	require.NoError(t, err)
	var shown map[string]any
	require.NoError(t, json.Unmarshal(raw, &shown))
	require.Equal(t, "pull", shown["kind"])

	u := publicURL
	for _, tc := range []struct {
		in    subscriptions.EndpointInput
		field string
	}{
		{subscriptions.EndpointInput{Kind: &pull, URL: &u}, "url"},
		{subscriptions.EndpointInput{Kind: &pull, EventTypes: &[]string{"shipment.*"}, URL: &u}, "url"},
		{subscriptions.EndpointInput{Kind: &webhook}, "url"},
		{subscriptions.EndpointInput{}, "url"},
	} {
		_, err := subscriptions.NewEndpoint(ctx, nil, "acme", tc.in)
		requireFieldError(t, err, tc.field)
	}
	var in subscriptions.EndpointInput
	require.NoError(t, json.Unmarshal([]byte(`{"kind": "pull", "timeout_seconds": 5}`), &in))
	_, err = subscriptions.NewEndpoint(ctx, nil, "acme", in)
	requireFieldError(t, err, "timeout_seconds")
	in = subscriptions.EndpointInput{}
	require.NoError(t, json.Unmarshal([]byte(`{"kind": "pull", "format": "dcsa-tnt-2.2"}`), &in))
	_, err = subscriptions.NewEndpoint(ctx, nil, "acme", in)
	requireFieldError(t, err, "format")
	in = subscriptions.EndpointInput{}
	require.NoError(t, json.Unmarshal([]byte(`{"kind": "pull", "ordering": "shipment"}`), &in))
	ordered, err := subscriptions.NewEndpoint(ctx, nil, "acme", in)
	require.NoError(t, err, "a pull endpoint may be ordered by shipment: its messages then carry their sequence")
	require.True(t, ordered.Ordered())
	in = subscriptions.EndpointInput{}
	require.NoError(t, json.Unmarshal([]byte(`{"kind": "fax", "url": "https://93.184.216.34/x"}`), &in))
	_, err = subscriptions.NewEndpoint(ctx, nil, "acme", in)
	requireFieldError(t, err, "kind")

	now := time.Now()
	for _, tc := range []struct {
		in    subscriptions.EndpointInput
		field string
	}{
		{subscriptions.EndpointInput{Kind: &webhook}, "kind"},
		{subscriptions.EndpointInput{URL: &u}, "url"},
		{optionsInput(t, `{"rate_limit": 5}`), "rate_limit"},
		{optionsInput(t, `{"max_concurrency": 5}`), "max_concurrency"},
		{optionsInput(t, `{"breaker_settings": {}}`), "breaker_settings"},
		{optionsInput(t, `{"format": "dcsa-tnt-2.2"}`), "format"},
		{optionsInput(t, `{"on_failure": "block"}`), "on_failure"},
		{optionsInput(t, `{"trace_context": true}`), "trace_context"},
	} {
		changed := e
		_, err := tc.in.Update(ctx, nil, &changed, now)
		requireFieldError(t, err, tc.field)
	}
	// What a pull endpoint has may change; its kind given again is no change.
	changed := e
	_, err = subscriptions.EndpointInput{Kind: &pull, Description: &desc, EventTypes: &[]string{"shipment.milestone.*"}}.Update(ctx, nil, &changed, now)
	require.NoError(t, err)
	require.Equal(t, []string{"shipment.milestone.*"}, changed.EventTypes)

	// A webhook endpoint's kind cannot change either.
	w, err := subscriptions.NewEndpoint(ctx, nil, "acme", subscriptions.EndpointInput{URL: &u})
	require.NoError(t, err)
	require.Equal(t, subscriptions.KindWebhook, w.Kind)
	_, err = subscriptions.EndpointInput{Kind: &pull}.Update(ctx, nil, &w, now)
	requireFieldError(t, err, "kind")
}

func optionsInput(t *testing.T, body string) subscriptions.EndpointInput {
	t.Helper()
	var in subscriptions.EndpointInput
	require.NoError(t, json.Unmarshal([]byte(body), &in))
	return in
}

func requireFieldError(t *testing.T, err error, field string) {
	t.Helper()
	var fe *subscriptions.FieldError
	require.True(t, errors.As(err, &fe), "want a FieldError on %s, got %v", field, err)
	require.Equal(t, field, fe.Field)
}
