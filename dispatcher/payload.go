package dispatcher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// payload renders the body of message m of ev, for m's partner in the
// role it plays in ev: {"type", "timestamp", "sequence", "data":
// {"event_id", "shipment", "role", …data}}; "sequence" only for a message
// of an ordered endpoint (m.Sequence, 1, 2, 3… per endpoint and shipment).
// The list of parties is never included; neither is an empty shipment (an
// operational event has none) or an empty role. An unresolved event's
// shipment is its references alone. Data is delivered as
// subscriptions.DeliveredData has it: amounts stored as numbers, before
// they were decimal strings, are delivered as decimal strings too.
func payload(ev Event, m Message) ([]byte, error) {
	role := roleOf(ev, m.PartnerID)
	var shipment []byte
	if ev.Shipment.ID != "" || !ev.Shipment.References.IsZero() {
		var err error
		if shipment, err = json.Marshal(ev.Shipment); err != nil {
			return nil, fmt.Errorf("encode shipment: %w", err)
		}
	}
	var b bytes.Buffer
	b.Grow(len(ev.Data) + len(shipment) + 160)
	b.WriteString(`{"type":`)
	writeJSONString(&b, ev.Type)
	b.WriteString(`,"timestamp":"`)
	b.WriteString(ev.OccurredAt.UTC().Format(time.RFC3339Nano))
	b.WriteByte('"')
	if m.Sequence > 0 {
		b.WriteString(`,"sequence":`)
		b.WriteString(strconv.FormatInt(m.Sequence, 10))
	}
	b.WriteString(`,"data":{"event_id":`)
	writeJSONString(&b, ev.ID)
	if shipment != nil {
		b.WriteString(`,"shipment":`)
		b.Write(shipment)
	}
	if role != "" {
		b.WriteString(`,"role":`)
		writeJSONString(&b, role)
	}
	// ev.Data is a compact JSON object: splice its members in.
	inner := bytes.TrimSpace(subscriptions.DeliveredData(ev.Type, ev.Data))
	if len(inner) > 2 {
		b.WriteByte(',')
		b.Write(inner[1 : len(inner)-1])
	}
	b.WriteString("}}")
	return b.Bytes(), nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// roleOf returns the role partnerID plays in ev, or "".
func roleOf(ev Event, partnerID string) string {
	for _, p := range ev.Parties {
		if p.PartnerID == partnerID {
			return p.Role
		}
	}
	return ""
}
