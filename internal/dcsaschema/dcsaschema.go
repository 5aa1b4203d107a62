// Package dcsaschema checks that a JSON document is a DCSA Track & Trace
// 2.2 event, a notification or a page of events, against JSON Schemas of
// the TransportEvent, EquipmentEvent and ShipmentEvent written from the
// published specification (testdata/*.json). Tests use it to hold what
// shiphook sends in DCSA form to the standard.
package dcsaschema

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed testdata/*.json
var files embed.FS

const base = "https://shiphook.test/dcsa-tnt-2.2/"

// Schemas are the compiled event schemas, by eventType.
type Schemas map[string]*jsonschema.Schema

// Load compiles the schemas, asserting formats (uuid, date-time).
func Load() (Schemas, error) {
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	for _, name := range []string{"common", "transport-event", "equipment-event", "shipment-event"} {
		raw, err := files.ReadFile("testdata/" + name + ".json")
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := comp.AddResource(base+name+".json", doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	s := Schemas{}
	for eventType, name := range map[string]string{"TRANSPORT": "transport-event", "EQUIPMENT": "equipment-event", "SHIPMENT": "shipment-event"} {
		sch, err := comp.Compile(base + name + ".json")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s[eventType] = sch
	}
	return s, nil
}

// Event checks raw, one DCSA event, against the schema of its eventType;
// an eventType outside TRANSPORT, EQUIPMENT, SHIPMENT is an error.
func (s Schemas) Event(raw []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	obj, _ := doc.(map[string]any)
	eventType, _ := obj["eventType"].(string)
	sch := s[eventType]
	if sch == nil {
		return fmt.Errorf("eventType %q is not TRANSPORT, EQUIPMENT or SHIPMENT", eventType)
	}
	return sch.Validate(doc)
}

// Events checks raw, a JSON array of DCSA events (a notification, or a
// page of GET /events), event by event, and returns them.
func (s Schemas) Events(raw []byte) ([]json.RawMessage, error) {
	var events []json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil {
		return nil, fmt.Errorf("not an array of events: %w", err)
	}
	for i, ev := range events {
		if err := s.Event(ev); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	return events, nil
}
