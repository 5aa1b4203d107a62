package subscriptions

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// validSamples holds valid data for every catalog type; a type added to the
// catalog needs a sample here.
var validSamples = map[string]string{
	"shipment.created": `{}`,
	"shipment.updated": `{
		"etd": "2026-11-20T08:00:00Z", "eta": "2026-12-24T16:00:00+01:00",
		"vessel": "MAERSK EMDEN", "voyage": "447W",
		"routing": [
			{"from": {"code": "CNSHA", "name": "Shanghai"}, "to": {"code": "NLRTM"}, "mode": "ocean", "vessel": "MAERSK EMDEN", "voyage": "447W"},
			{"from": {"code": "NLRTM"}, "to": {"name": "Warehouse Venlo"}, "mode": "road", "eta": "2026-12-27T10:00:00Z"}
		]}`,
	"shipment.cancelled":      `{"reason": "Order withdrawn by the buyer"}`,
	"shipment.document.added": `{"type": "bill_of_lading", "number": "MAEU123456789", "url": "https://docs.example.com/bl/MAEU123456789.pdf"}`,
	"shipment.charge.updated": `{"charges": [
		{"code": "FRT", "description": "Ocean freight", "amount": 2450.5, "currency": "USD"},
		{"code": "THC", "amount": -35, "currency": "EUR"}]}`,
	"shipment.invoice.issued":             `{"invoice_number": "INV-2026-0042", "amount": 2485.5, "currency": "EUR", "due_date": "2026-12-31", "url": "https://erp.example.com/invoices/42"}`,
	"shipment.milestone.booked":           `{}`,
	"shipment.milestone.picked_up":        `{"location": {"name": "Acme Ltd, Ningbo"}, "description": "Collected by truck"}`,
	"shipment.milestone.received":         `{"location": {"code": "CNNGB", "name": "Ningbo CFS"}}`,
	"shipment.milestone.departed":         `{"location": {"code": "CNNGB"}, "vessel": "EVER GIVEN", "voyage": "0123E"}`,
	"shipment.milestone.arrived":          `{"location": {"code": "DEFRA"}, "flight": "LH8401"}`,
	"shipment.milestone.customs_hold":     `{"location": {"code": "NLRTM"}, "description": "Physical inspection"}`,
	"shipment.milestone.customs_cleared":  `{"location": {"code": "NLRTM"}}`,
	"shipment.milestone.out_for_delivery": `{"location": {"name": "Hub Venlo"}}`,
	"shipment.milestone.delivered":        `{"location": {"name": "Consignee dock 4"}, "signed_by": "J. Janssen", "proof_of_delivery_url": "https://pod.example.com/123.jpg"}`,
	"shipment.milestone.exception":        `{"code": "DAMAGED", "description": "Two cartons crushed"}`,
	"shipment.equipment.gated_in":         `{"container": "MSKU1234565", "empty": false, "location": {"code": "CNNGB", "facility": "NBCT"}, "seals": [{"number": "S1"}]}`,
	"shipment.equipment.gated_out":        `{"container": "MSKU1234565", "empty": true, "location": "CNNGB"}`,
	"shipment.equipment.loaded":           `{"container": "MSKU1234565", "empty": false, "mode": "ocean", "vessel": "EVER GIVEN", "vessel_imo": "9811000", "voyage": "0123E"}`,
	"shipment.equipment.discharged":       `{"container": "MSKU1234565", "empty": false, "mode": "barge"}`,
	"shipment.equipment.stuffed":          `{"container": "MSKU1234565", "empty": false, "seals": [{"number": "S1", "source": "shipper", "type": "bolt"}]}`,
	"shipment.equipment.stripped":         `{"container": "MSKU1234565", "empty": true}`,
	"shipment.equipment.picked_up":        `{"container": "MSKU1234565", "empty": false, "mode": "road"}`,
	"shipment.equipment.dropped_off":      `{"container": "MSKU1234565", "empty": true, "location": {"name": "Depot Venlo"}}`,
	"shipment.equipment.inspected":        `{"container": "MSKU1234565", "empty": false, "seals": [{"number": "C9", "source": "customs", "type": "wire"}]}`,
	"shipment.document.requested":         `{"type": "booking_request", "number": "CBR-1"}`,
	"shipment.document.submitted":         `{"type": "shipping_instruction", "number": "SI-1"}`,
	"shipment.document.received":          `{"type": "verified_gross_mass", "number": "VGM-1"}`,
	"shipment.document.drafted":           `{"type": "bill_of_lading", "number": "MAEU123456789"}`,
	"shipment.document.pending_approval":  `{"type": "bill_of_lading", "number": "MAEU123456789"}`,
	"shipment.document.pending_update":    `{"type": "shipping_instruction", "number": "SI-1", "reason": "Consignee address missing"}`,
	"shipment.document.approved":          `{"type": "bill_of_lading", "number": "MAEU123456789"}`,
	"shipment.document.rejected":          `{"type": "booking", "number": "BKG-1", "reason": "No space on the vessel"}`,
	"shipment.document.confirmed":         `{"type": "verified_gross_mass", "number": "VGM-1"}`,
	"shipment.document.issued":            `{"type": "arrival_notice", "number": "AN-1"}`,
	"shipment.document.surrendered":       `{"type": "bill_of_lading", "number": "MAEU123456789"}`,
	"shipment.document.voided":            `{"type": "bill_of_lading", "number": "MAEU123456789"}`,
	"shipment.document.completed":         `{"type": "cargo_survey", "number": "CS-1"}`,
	"shipment.document.on_hold":           `{"type": "customs_inspection", "number": "CUS-1"}`,
	"shipment.document.released":          `{"type": "shipment_release", "number": "SRM-1"}`,
	"shiphook.endpoint.disabled":          `{"endpoint_id": "ep_01", "reason": "gone", "url": "https://partner.example.com/hooks"}`,
	"shiphook.message.failed":             `{"message_id": "msg_01", "endpoint_id": "ep_01", "event_type": "shipment.created", "attempts": 8, "last_status": 503}`,
}

func TestCatalogSchemasCompile(t *testing.T) {
	cat := Catalog()
	require.NotEmpty(t, cat)
	require.True(t, slices.IsSortedFunc(cat, func(a, b EventType) int { return strings.Compare(a.Name, b.Name) }), "sorted by name")

	for _, et := range cat {
		t.Run(et.Name, func(t *testing.T) {
			require.NotEmpty(t, et.Description)
			require.Equal(t, strings.HasPrefix(et.Name, "shiphook."), strings.HasPrefix(et.Description, "Emitted by shiphook"),
				"exactly the shiphook.* types are emitted by shiphook and say so")

			// A partner compiles the schema on its own, with no help from us.
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(et.Schema))
			require.NoError(t, err)
			c := jsonschema.NewCompiler()
			require.NoError(t, c.AddResource("https://example.com/"+et.Name+".json", doc))
			_, err = c.Compile("https://example.com/" + et.Name + ".json")
			require.NoError(t, err)

			var root map[string]any
			require.NoError(t, json.Unmarshal(et.Schema, &root))
			require.Equal(t, "https://json-schema.org/draft/2020-12/schema", root["$schema"])
			require.Equal(t, "object", root["type"])
			checkSchemaNode(t, "data", root, true)
		})
	}

	for _, name := range []string{
		"shipment.created", "shipment.updated", "shipment.cancelled",
		"shipment.milestone.booked", "shipment.milestone.picked_up", "shipment.milestone.received",
		"shipment.milestone.departed", "shipment.milestone.arrived", "shipment.milestone.customs_hold",
		"shipment.milestone.customs_cleared", "shipment.milestone.out_for_delivery",
		"shipment.milestone.delivered", "shipment.milestone.exception",
		"shipment.document.added", "shipment.charge.updated", "shipment.invoice.issued",
		"shipment.equipment.gated_in", "shipment.equipment.gated_out", "shipment.equipment.loaded",
		"shipment.equipment.discharged", "shipment.equipment.stuffed", "shipment.equipment.stripped",
		"shipment.equipment.picked_up", "shipment.equipment.dropped_off", "shipment.equipment.inspected",
		"shipment.document.requested", "shipment.document.submitted", "shipment.document.received",
		"shipment.document.drafted", "shipment.document.pending_approval", "shipment.document.pending_update",
		"shipment.document.approved", "shipment.document.rejected", "shipment.document.confirmed",
		"shipment.document.issued", "shipment.document.surrendered", "shipment.document.voided",
		"shipment.document.completed", "shipment.document.on_hold", "shipment.document.released",
		"shiphook.endpoint.disabled", "shiphook.message.failed",
	} {
		et, ok := LookupType(name)
		require.True(t, ok, name)
		require.Equal(t, name, et.Name)
	}
	_, ok := LookupType("shipment.milestone")
	require.False(t, ok)
}

// checkSchemaNode asserts that every node is documented, that objects
// accept extra fields, and that no field uses a name that deliveries add.
func checkSchemaNode(t *testing.T, path string, node map[string]any, top bool) {
	t.Helper()
	require.NotEmpty(t, node["description"], "%s has no description", path)
	types, _ := node["type"].([]any)
	if node["type"] == "object" || slices.Contains(types, any("object")) {
		require.Equal(t, true, node["additionalProperties"], "%s must accept extra fields", path)
		props, _ := node["properties"].(map[string]any)
		for name, p := range props {
			if top {
				require.NotContains(t, []string{"event_id", "shipment", "role"}, name, "%s.%s is reserved", path, name)
			}
			checkSchemaNode(t, path+"."+name, p.(map[string]any), false)
		}
	}
	if items, ok := node["items"].(map[string]any); ok {
		checkSchemaNode(t, path+"[]", items, false)
	}
}

func TestCatalogReturnsCopies(t *testing.T) {
	a := Catalog()
	a[0].Name = "changed"
	a[0].Schema[0] = 'x'
	a[0].Example[0] = 'x'
	b := Catalog()
	require.NotEqual(t, "changed", b[0].Name)
	require.True(t, json.Valid(b[0].Schema))
	require.True(t, json.Valid(b[0].Example))

	ex, ok := ExampleData(b[0].Name)
	require.True(t, ok)
	ex[0] = 'x'
	again, ok := ExampleData(b[0].Name)
	require.True(t, ok)
	require.True(t, json.Valid(again))
}

func TestCatalogExamples(t *testing.T) {
	for _, et := range Catalog() {
		t.Run(et.Name, func(t *testing.T) {
			require.NotEmpty(t, et.Example, "add an example for %s", et.Name)
			require.NoError(t, ValidateData(et.Name, et.Example))

			var m map[string]any
			require.NoError(t, json.Unmarshal(et.Example, &m))
			require.NotEmpty(t, m, "an example shows some fields")
			for _, k := range []string{"event_id", "shipment", "role"} {
				require.NotContains(t, m, k, "%s is added by deliveries, not sent by sources", k)
			}

			// Examples are stored compact, ready to send as a test event's data.
			var compact bytes.Buffer
			require.NoError(t, json.Compact(&compact, et.Example))
			require.Equal(t, compact.String(), string(et.Example))

			ex, ok := ExampleData(et.Name)
			require.True(t, ok)
			require.JSONEq(t, string(et.Example), string(ex))
			looked, ok := LookupType(et.Name)
			require.True(t, ok)
			require.Equal(t, et.Example, looked.Example)
		})
	}

	ex, ok := ExampleData("shipment.teleported")
	require.False(t, ok)
	require.Nil(t, ex)
	_, ok = ExampleData("shipment.milestone")
	require.False(t, ok)
}

func TestBuildCatalogChecksExamples(t *testing.T) {
	def := func(example string) []typeDef {
		return []typeDef{{"test.invoice", "A test type.", object("Test data.", schema{
			"invoice_number": text("Number of the invoice."),
			"amount":         decimal("Amount."),
		}, "invoice_number"), example}}
	}
	_, err := buildCatalog(def(`{"invoice_number": "INV-1", "amount": "10.00"}`))
	require.NoError(t, err)

	tests := []struct{ name, example, message string }{
		{"missing", ``, "not valid JSON"},
		{"not JSON", `{"invoice_number": `, "not valid JSON"},
		{"not an object", `["INV-1"]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"empty object", `{}`, "empty"},
		{"reserved key", `{"invoice_number": "INV-1", "shipment": {"id": "S1"}}`, `"shipment"`},
		{"invalid", `{"invoice_number": "INV-1", "amount": "10,00"}`, `data.amount: "10,00" is not a decimal number`},
		{"missing required field", `{"amount": "10"}`, "data.invoice_number: is required"},
		{"not as delivered", `{"invoice_number": "INV-1", "amount": 10}`, `amounts as decimal strings and places as objects: {"invoice_number":"INV-1","amount":"10"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildCatalog(def(tt.example))
			require.Error(t, err)
			require.Contains(t, err.Error(), "test.invoice: example: ")
			require.Contains(t, err.Error(), tt.message)
		})
	}
}

func TestValidateDataAcceptsSamples(t *testing.T) {
	for _, et := range Catalog() {
		t.Run(et.Name, func(t *testing.T) {
			sample, ok := validSamples[et.Name]
			require.True(t, ok, "add a valid sample for %s", et.Name)
			require.NoError(t, ValidateData(et.Name, json.RawMessage(sample)))

			// Fields the catalog does not name are allowed.
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(sample), &m))
			m["x_custom"] = map[string]any{"anything": []any{1, "two"}}
			extended, err := json.Marshal(m)
			require.NoError(t, err)
			require.NoError(t, ValidateData(et.Name, extended))
		})
	}
	for name := range validSamples {
		_, ok := LookupType(name)
		require.True(t, ok, "sample for unknown type %s", name)
	}
}

func TestValidateDataRejects(t *testing.T) {
	tests := []struct {
		name, typ, data string
		field           string // wanted FieldError.Field
		message         string // wanted substring of FieldError.Message
	}{
		{"missing required field", "shipment.invoice.issued", `{"amount": 10, "currency": "EUR"}`, "data.invoice_number", "is required (Number of the invoice)"},
		{"wrong type", "shipment.invoice.issued", `{"invoice_number": "1", "amount": {"x": 1}, "currency": "EUR"}`, "data.amount", `must be a decimal, given as a JSON number or a string such as "2452.37", not an object`},
		{"bad currency", "shipment.invoice.issued", `{"invoice_number": "1", "amount": 10, "currency": "eur"}`, "data.currency", `"eur" does not have the expected form (ISO 4217 currency code`},
		{"bad currency in an array", "shipment.charge.updated", `{"charges": [{"code": "FRT", "amount": 1, "currency": "USD"}, {"code": "THC", "amount": 2, "currency": "EURO"}]}`, "data.charges[1].currency", "ISO 4217"},
		{"bad date", "shipment.invoice.issued", `{"invoice_number": "1", "amount": 10, "currency": "EUR", "due_date": "31/12/2026"}`, "data.due_date", "is not a date such as 2026-11-26"},
		{"bad date-time", "shipment.updated", `{"eta": "tomorrow noon"}`, "data.eta", `"tomorrow noon" is not an RFC 3339 date-time`},
		{"date-time without zone", "shipment.updated", `{"etd": "2026-11-20T08:00:00"}`, "data.etd", "RFC 3339"},
		{"bad date-time in a leg", "shipment.updated", `{"routing": [{"from": {"code": "CNSHA"}, "to": {"code": "NLRTM"}, "mode": "ocean", "eta": "2026-13-01T00:00:00Z"}]}`, "data.routing[0].eta", "RFC 3339"},
		{"missing leg field", "shipment.updated", `{"routing": [{"from": {"code": "CNSHA"}, "mode": "ocean"}]}`, "data.routing[0].to", "is required (Where the leg ends)"},
		{"unknown mode", "shipment.updated", `{"routing": [{"from": {"code": "CNSHA"}, "to": {"code": "NLRTM"}, "mode": "truck"}]}`, "data.routing[0].mode", `"truck" is not allowed; use one of "ocean", "air", "road", "rail", "barge"`},
		{"routing not an array", "shipment.created", `{"routing": {"from": "CNSHA"}}`, "data.routing", "must be an array, not an object"},
		{"missing location", "shipment.milestone.arrived", `{"vessel": "EVER GIVEN"}`, "data.location", "is required (Where the milestone happened)"},
		{"empty location", "shipment.milestone.departed", `{"location": {}}`, "data.location", "give at least one of code, name"},
		{"bad UN/LOCODE", "shipment.milestone.departed", `{"location": {"code": "Rotterdam"}}`, "data.location.code", "UN/LOCODE"},
		{"empty string", "shipment.cancelled", `{"reason": ""}`, "data.reason", "must not be empty"},
		{"exception without code", "shipment.milestone.exception", `{"description": "Crushed"}`, "data.code", "is required"},
		{"document of unknown kind", "shipment.document.added", `{"type": "invoice", "number": "1", "url": "https://x.example/1"}`, "data.type", "use one of"},
		{"document url not absolute", "shipment.document.added", `{"type": "other", "number": "1", "url": "/docs/1.pdf"}`, "data.url", "is not an absolute URL"},
		{"document url with a script scheme", "shipment.document.added", `{"type": "other", "number": "1", "url": "javascript:alert(1)"}`, "data.url", "http or https"},
		{"proof of delivery not a URL", "shipment.milestone.delivered", `{"location": {"name": "Dock"}, "proof_of_delivery_url": "see attachment"}`, "data.proof_of_delivery_url", ""},
		{"below the minimum", "shiphook.message.failed", `{"message_id": "m", "endpoint_id": "e", "attempts": 0}`, "data.attempts", "must be at least 1 (How many attempts were made)"},
		{"integer wanted", "shiphook.message.failed", `{"message_id": "m", "endpoint_id": "e", "attempts": 1.5}`, "data.attempts", "must be an integer, not a number"},
		{"data not an object", "shipment.created", `[1, 2]`, "data", "must be an object, not an array"},
		{"data null", "shipment.created", `null`, "data", "must be an object, not null"},
		{"data not JSON", "shipment.created", `{"eta": `, "data", "is not valid JSON"},
		{"reserved key, even where the schema is silent", "shipment.milestone.departed", `{"location": {"code": "CNSHA"}, "role": "shipper"}`, "data.role", "is set by shiphook in every delivery"},
		{"reserved key before the schema's own rules", "shipment.milestone.departed", `{"event_id": "evt_1"}`, "data.event_id", "leave it out of data"},
		{"equipment without a container", "shipment.equipment.loaded", `{"empty": false}`, "data.container", "is required (Number of the container"},
		{"equipment without empty or laden", "shipment.equipment.gated_in", `{"container": "MSKU1234565"}`, "data.empty", "is required"},
		{"equipment empty as a word", "shipment.equipment.gated_in", `{"container": "MSKU1234565", "empty": "EMPTY"}`, "data.empty", "must be true or false, not a string"},
		{"seal without a number", "shipment.equipment.stuffed", `{"container": "MSKU1234565", "empty": false, "seals": [{"type": "bolt"}]}`, "data.seals[0].number", "is required"},
		{"seal of unknown source", "shipment.equipment.stuffed", `{"container": "MSKU1234565", "empty": false, "seals": [{"number": "S1", "source": "CUS"}]}`, "data.seals[0].source", "use one of"},
		{"bad IMO number", "shipment.equipment.loaded", `{"container": "MSKU1234565", "empty": false, "vessel_imo": "IMO9811000"}`, "data.vessel_imo", "seven digits"},
		{"document of unknown kind for a status", "shipment.document.issued", `{"type": "invoice", "number": "1"}`, "data.type", "use one of"},
		{"document status without a number", "shipment.document.issued", `{"type": "bill_of_lading"}`, "data.number", "is required"},
		{"estimate neither estimated nor planned", "shipment.updated", `{"eta": "2026-12-24T16:00:00Z", "time_basis": "guessed"}`, "data.time_basis", "use one of"},
		{"several problems, first field reported", "shipment.invoice.issued", `{"currency": "eu", "amount": "x"}`, "data.amount", `"x" is not a decimal number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateData(tt.typ, json.RawMessage(tt.data))
			require.Error(t, err)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.field, fe.Field, fe.Message)
			require.Contains(t, fe.Message, tt.message)
			require.NotErrorIs(t, err, ErrUnknownType)

			// The same input always names the same problem.
			for range 10 {
				again := ValidateData(tt.typ, json.RawMessage(tt.data))
				require.Equal(t, err.Error(), again.Error())
			}
		})
	}
}

func TestValidateDataUnknownType(t *testing.T) {
	tests := []struct{ typ, message string }{
		{"shipment.teleported", `unknown event type "shipment.teleported"`},
		{"", `unknown event type ""`},
		{"Shipment.Created", "unknown event type"},
		{"shipment.milestone", `name one, such as "shipment.milestone.arrived", or match them all with "shipment.milestone.*"`},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			err := ValidateData(tt.typ, json.RawMessage(`{}`))
			require.ErrorIs(t, err, ErrUnknownType)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, "type", fe.Field)
			require.Contains(t, fe.Message, tt.message)
			require.Equal(t, "type: "+fe.Message, err.Error())
		})
	}
}

func TestValidPattern(t *testing.T) {
	tests := []struct {
		pattern string
		ok      bool
		unknown bool   // wraps ErrUnknownType
		message string // substring of the message when not ok
	}{
		{pattern: "*", ok: true},
		{pattern: "shipment.created", ok: true},
		{pattern: "shipment.milestone.delivered", ok: true},
		{pattern: "shipment.milestone.*", ok: true},
		{pattern: "shipment.*", ok: true},
		{pattern: "shiphook.*", ok: true},
		{pattern: "shiphook.endpoint.disabled", ok: true},
		{pattern: "shipment.milestone", unknown: true, message: `match them all with "shipment.milestone.*"`},
		{pattern: "shipment.teleported", unknown: true, message: "unknown event type"},
		{pattern: "invoice.*", unknown: true, message: "matches no event type"},
		{pattern: "shipment.milestone.delivered.*", unknown: true, message: "matches no event type"},
		{pattern: ".*", unknown: true, message: "matches no event type"},
		{pattern: "", message: "must not be empty"},
		{pattern: "shipment*", message: "a wildcard must be a whole last part"},
		{pattern: "shipment.*.delivered", message: "a wildcard must be a whole last part"},
		{pattern: "*.delivered", message: "a wildcard must be a whole last part"},
		{pattern: "shipment.*.*", message: "only one wildcard"},
		{pattern: "**", message: "a wildcard must be a whole last part"},
	}
	for i, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			err := ValidPattern(i, tt.pattern)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, "event_types["+strconv.Itoa(i)+"]", fe.Field)
			require.Contains(t, fe.Message, tt.message)
			require.Equal(t, tt.unknown, errors.Is(err, ErrUnknownType))
		})
	}
}

func TestTypeMatches(t *testing.T) {
	tests := []struct {
		pattern, typ string
		want         bool
	}{
		{"*", "shipment.created", true},
		{"*", "shiphook.message.failed", true},
		{"shipment.created", "shipment.created", true},
		{"shipment.created", "shipment.cancelled", false},
		{"shipment.created", "shipment.created.extra", false},
		{"shipment.milestone.*", "shipment.milestone.delivered", true},
		{"shipment.milestone.*", "shipment.created", false},
		{"shipment.milestone.*", "shipment.milestone", false},
		{"shipment.milestone.*", "shipment.milestones.delivered", false},
		{"shipment.*", "shipment.milestone.delivered", true},
		{"shipment.*", "shiphook.endpoint.disabled", false},
		{"a.b.*", "a.b.x", true},
		{"a.b.*", "a.b.x.y", true},
		{"a.b.*", "a.b.", false},
		{"a.b.*", "a.bx", false},
		{"shipment.milestone", "shipment.milestone.delivered", false},
		{"shipment*", "shipment.created", false},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.typ, func(t *testing.T) {
			require.Equal(t, tt.want, TypeMatches(tt.pattern, tt.typ))
		})
	}
}

func TestValidateDataConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if err := ValidateData("shipment.updated", json.RawMessage(validSamples["shipment.updated"])); err != nil {
					t.Error(err)
				}
				if err := ValidateData("shipment.invoice.issued", json.RawMessage(`{"currency": "eur"}`)); err == nil {
					t.Error("invalid invoice accepted")
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkValidateData(b *testing.B) {
	cases := []struct{ name, typ string }{
		{"milestone", "shipment.milestone.departed"},
		{"routing", "shipment.updated"},
		{"charges", "shipment.charge.updated"},
	}
	for _, c := range cases {
		data := json.RawMessage(validSamples[c.typ])
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := ValidateData(c.typ, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
