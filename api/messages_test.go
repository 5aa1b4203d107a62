package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

// TestPartnerSeesOnlyItsOwn checks that a partner key reaches its own
// partner's messages and nothing of another's: those answer 404 as if
// they did not exist.
func TestPartnerSeesOnlyItsOwn(t *testing.T) {
	a := newTestAPI(t)

	status, body := a.do(t, "GET", "/v1/messages/msg_acme", acmeKey, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, "msg_acme", body["id"])

	status, body = a.do(t, "GET", "/v1/messages/msg_globex", acmeKey, nil)
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "message msg_globex not found", errorOf(t, body)["message"])
	status, body = a.do(t, "GET", "/v1/messages/msg_nonexistent", acmeKey, nil)
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "message msg_nonexistent not found", errorOf(t, body)["message"])

	status, body = a.do(t, "GET", "/v1/partners/acme/messages", acmeKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["data"], 1)
	require.Equal(t, "msg_acme", body["data"].([]any)[0].(map[string]any)["id"])

	status, body = a.do(t, "GET", "/v1/partners/globex/messages", acmeKey, nil)
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "partner globex not found", errorOf(t, body)["message"])

	status, _ = a.do(t, "GET", "/v1/messages", acmeKey, nil)
	require.Equal(t, http.StatusForbidden, status, "the list across partners is an admin's")

	status, body = a.do(t, "GET", "/v1/messages/msg_globex", adminKey, nil)
	require.Equal(t, http.StatusOK, status, "an admin sees every partner's")
	require.Equal(t, "msg_globex", body["id"])
}

func TestListMessagesFilters(t *testing.T) {
	a := newTestAPI(t)
	status, body := a.do(t, "GET", "/v1/messages?partner_id=globex&status=failed&since=2026-11-26T00:00:00Z", adminKey, nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["data"], 1)
	q := a.store.queries[0]
	require.Equal(t, "globex", q.PartnerID)
	require.Equal(t, "failed", string(q.Status))
	require.Equal(t, "2026-11-26T00:00:00Z", q.Since.Format("2006-01-02T15:04:05Z07:00"))

	for _, tc := range []struct{ query, field string }{
		{"status=lost", "status"},
		{"error_class=gremlins", "error_class"},
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
	} {
		status, body := a.do(t, "GET", "/v1/messages?"+tc.query, adminKey, nil)
		require.Equal(t, http.StatusUnprocessableEntity, status, tc.query)
		require.Equal(t, tc.field, errorOf(t, body)["field"], tc.query)
	}
}

// TestMessagesCarryLabels checks that the message log names each
// message's endpoint and partner, and marks one that is gone.
func TestMessagesCarryLabels(t *testing.T) {
	a := newTestAPI(t)
	a.store.endpoints["ep_g"] = subscriptions.Endpoint{ID: "ep_g", PartnerID: partnerIDG, Kind: subscriptions.KindWebhook,
		URL: "https://globex.example/hooks", Description: "Globex ERP"}
	status, body := a.do(t, "GET", "/v1/messages", adminKey, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	byID := map[string]map[string]any{}
	for _, m := range body["data"].([]any) {
		byID[m.(map[string]any)["id"].(string)] = m.(map[string]any)
	}
	g := byID["msg_globex"]
	require.Equal(t, "https://globex.example/hooks", g["endpoint_url"])
	require.Equal(t, "Globex ERP", g["endpoint_description"])
	require.Equal(t, "Globex", g["partner_name"])
	require.Equal(t, false, g["endpoint_deleted"])
	require.Equal(t, false, g["partner_deleted"])
	acme := byID["msg_acme"]
	require.Equal(t, true, acme["endpoint_deleted"], "ep_a is not kept: deleted")
	require.Equal(t, "", acme["endpoint_url"])
	require.Equal(t, "Acme", acme["partner_name"])

	status, body = a.do(t, "GET", "/v1/messages/msg_globex", adminKey, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, "Globex ERP", body["endpoint_description"])
	require.Equal(t, "Globex", body["partner_name"])
}
