package dispatcher

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestDCSANotificationSequence checks that a DCSA delivery of an ordered
// message carries its sequence in the shiphook-sequence header (the DCSA
// body has no room for it), that an unordered one carries none, and that
// the body is signed either way.
func TestDCSANotificationSequence(t *testing.T) {
	at := time.Date(2026, 11, 20, 8, 5, 0, 0, time.UTC)
	ev := Event{ID: "evt_1", Type: "shipment.milestone.departed", OccurredAt: at, CreatedAt: at,
		Shipment: Shipment{ID: "SHP-1", Mode: "ocean"}, Data: json.RawMessage(`{"location": {"code": "CNSHA"}}`)}
	ep := subscriptions.Endpoint{ID: "ep_1", Secret: signing.NewSecret()}
	ep.Format = subscriptions.FormatDCSA
	key, err := signing.SecretKey(ep.Secret)
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		m    Message
		want string
	}{
		{"ordered", Message{ID: "msg_1", Sequence: 3}, "3"},
		{"unordered", Message{ID: "msg_2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok, err := dcsaNotificationOf(ev, ep, tc.m)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, tc.want, n.headers["shiphook-sequence"])
			require.True(t, sources.VerifyDCSASignature(key, n.body, n.headers["Notification-Signature"]))
		})
	}
}
