package dispatcher

// This file renders a delivery to an endpoint of format dcsa-tnt-2.2: the
// body is a DCSA Track & Trace 2.2 notification, an array of the one DCSA
// event of the canonical event (sources.DCSAEvent), signed as DCSA
// signs notifications besides the Standard Webhooks headers every
// delivery has. Shiphook-format deliveries never reach this file.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// ErrorNoDCSAForm: the event has no DCSA form (such as a shipment.updated
// with neither an eta nor an etd), so no attempt was made to deliver it
// to a DCSA endpoint.
const ErrorNoDCSAForm ErrorClass = "no_dcsa_form"

// dcsaNotification is the body and the extra headers of a delivery in
// DCSA form.
type dcsaNotification struct {
	body    []byte
	headers map[string]string
}

// dcsaNotificationOf renders ev for ep, a DCSA endpoint; ok is false when
// ev has no DCSA form. The Notification-Signature is "sha256=" and the
// hex HMAC-SHA256 of the body, keyed with the key bytes of ep's current
// whsec_ secret (the secret's previous key, during a rotation, signs
// only the Standard Webhooks signature: DCSA has room for one).
func dcsaNotificationOf(ev Event, ep subscriptions.Endpoint, m Message) (n dcsaNotification, ok bool, err error) {
	event, ok := sources.DCSAEvent(CanonicalOf(ev))
	if !ok {
		return n, false, nil
	}
	n.body = make([]byte, 0, len(event)+2)
	n.body = append(append(append(n.body, '['), event...), ']')
	key, err := signing.SecretKey(ep.Secret)
	if err != nil {
		return n, true, fmt.Errorf("endpoint %s: DCSA signature: %w", ep.ID, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(n.body)
	n.headers = map[string]string{
		"Notification-Signature": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
		"Subscription-ID":        sources.DCSASubscriptionID(ep.ID),
		"API-Version":            "2.2.0",
	}
	// A message of an ordered endpoint carries its place in its
	// shipment's order; the DCSA body has no room for it, hence a header.
	if m.Sequence > 0 {
		n.headers["shiphook-sequence"] = strconv.FormatInt(m.Sequence, 10)
	}
	return n, true, nil
}

// CanonicalOf returns what sources.DCSAEvent reads of ev.
func CanonicalOf(ev Event) sources.Canonical {
	return sources.Canonical{ID: ev.ID, SourceID: ev.SourceID, Type: ev.Type, OccurredAt: ev.OccurredAt, CreatedAt: ev.CreatedAt,
		Mode: ev.Shipment.Mode, References: ev.Shipment.References, Data: ev.Data}
}
