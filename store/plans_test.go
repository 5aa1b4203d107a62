package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/store/storetest"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestSQLitePlans checks which index SQLite reads for the filters the APIs
// send. Nothing runs ANALYZE, so SQLite has no statistics and, of indexes
// that serve a query equally well, takes the one created last: the order of
// the migration decides, and an index added later can change these.
// PostgreSQL chooses by its statistics; docs/indexes.md has its plans.
func TestSQLitePlans(t *testing.T) {
	s, err := store.Open(t.Context(), storetest.SQLite(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.Migrate(t.Context()))
	since := time.Now()

	for _, tc := range []struct {
		q     dispatcher.MessageQuery
		index string
	}{
		{dispatcher.MessageQuery{}, "sqlite_autoindex_messages_1"},
		{dispatcher.MessageQuery{PartnerID: "p"}, "messages_partner "},
		{dispatcher.MessageQuery{PartnerID: "p", Page: subscriptions.Page{After: "m"}}, "messages_partner (partner_id=? AND id<?)"},
		{dispatcher.MessageQuery{PartnerID: "p", EndpointID: "e"}, "messages_endpoint "},
		{dispatcher.MessageQuery{PartnerID: "p", ShipmentID: "s"}, "messages_shipment "},
		{dispatcher.MessageQuery{PartnerID: "p", EventType: "t"}, "messages_partner "},
		{dispatcher.MessageQuery{PartnerID: "p", Since: &since}, "messages_partner "},
		{dispatcher.MessageQuery{PartnerID: "p", Status: dispatcher.StatusPending}, "messages_partner "},
		{dispatcher.MessageQuery{PartnerID: "p", Status: dispatcher.StatusFailed}, "messages_partner_failed "},
		{dispatcher.MessageQuery{PartnerID: "p", EndpointID: "e", Status: dispatcher.StatusFailed}, "messages_failed "},
		// Since messages has the column sequence (0005), SQLite's estimate
		// of a row's size makes it prefer the partial messages_errors here:
		// both read in id order, with no sort.
		{dispatcher.MessageQuery{PartnerID: "p", EndpointID: "e", ErrorClass: dispatcher.ErrorTimeout}, "messages_errors "},
		{dispatcher.MessageQuery{EndpointID: "e"}, "messages_endpoint "},
		{dispatcher.MessageQuery{ShipmentID: "s"}, "messages_shipment "},
		{dispatcher.MessageQuery{EventType: "t"}, "messages_type "},
		{dispatcher.MessageQuery{ErrorClass: dispatcher.ErrorTLS}, "messages_errors "},
		{dispatcher.MessageQuery{EndpointID: "e", Status: dispatcher.StatusFailed}, "messages_failed "},
		{dispatcher.MessageQuery{EndpointID: "e", Status: dispatcher.StatusHeld}, "messages_endpoint "},
		{dispatcher.MessageQuery{PartnerID: "p", EndpointID: "e", Status: dispatcher.StatusHeld}, "messages_endpoint "},
		{dispatcher.MessageQuery{PartnerID: "p", Status: dispatcher.StatusHeld}, "messages_partner "},
	} {
		plan, err := store.MessagesPlan(t.Context(), s, tc.q)
		require.NoError(t, err)
		require.Contains(t, plan, "USING INDEX "+tc.index, "%+v", tc.q)
		require.NotContains(t, plan, "TEMP B-TREE", "%+v", tc.q)
	}

	for _, tc := range []struct {
		q     dispatcher.AttemptQuery
		index string
	}{
		{dispatcher.AttemptQuery{}, "sqlite_autoindex_attempts_1"},
		{dispatcher.AttemptQuery{PartnerID: "p"}, "attempts_partner "},
		{dispatcher.AttemptQuery{PartnerID: "p", Since: &since}, "attempts_partner "},
		{dispatcher.AttemptQuery{PartnerID: "p", Failed: true}, "attempts_partner_failed "},
		{dispatcher.AttemptQuery{PartnerID: "p", ErrorClass: dispatcher.ErrorTimeout}, "attempts_partner_failed "},
		{dispatcher.AttemptQuery{PartnerID: "p", EndpointID: "e"}, "attempts_endpoint_recent "},
		{dispatcher.AttemptQuery{PartnerID: "p", MessageID: "m"}, "attempts_message "},
		{dispatcher.AttemptQuery{EndpointID: "e"}, "attempts_endpoint_recent "},
		{dispatcher.AttemptQuery{EndpointID: "e", Failed: true}, "attempts_endpoint_recent "},
		{dispatcher.AttemptQuery{MessageID: "m"}, "attempts_message "},
		{dispatcher.AttemptQuery{ErrorClass: dispatcher.ErrorTLS}, "attempts_errors "},
		{dispatcher.AttemptQuery{Failed: true}, "attempts_failed"},
	} {
		plan, err := store.AttemptsPlan(t.Context(), s, tc.q)
		require.NoError(t, err)
		require.Contains(t, plan, "USING INDEX "+tc.index, "%+v", tc.q)
		require.NotContains(t, plan, "TEMP B-TREE", "%+v", tc.q)
	}
}
