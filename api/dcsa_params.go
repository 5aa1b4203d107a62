package api

// This file reads the query of GET /dcsa/tnt/v2/events: DCSA Track &
// Trace 2.2's parameters, each checked against the values the standard
// gives it, and the cursor, which carries the query of the page it
// continues.

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

const (
	dcsaDefaultLimit = 100
	dcsaMaxLimit     = 250
	// maxDCSACursor bounds a cursor's length: one this endpoint gives is
	// far shorter.
	maxDCSACursor = 4096
)

// dcsaCodes are the values each list parameter takes, as the standard
// gives them.
var dcsaCodes = map[string][]string{
	"eventType":              {"TRANSPORT", "EQUIPMENT", "SHIPMENT"},
	"transportEventTypeCode": {"ARRI", "DEPA"},
	"equipmentEventTypeCode": {"LOAD", "DISC", "GTIN", "GTOT", "STUF", "STRP", "PICK", "DROP", "INSP", "RSEA", "RMVD"},
	"shipmentEventTypeCode":  {"RECE", "DRFT", "PENA", "PENU", "REJE", "APPR", "ISSU", "SURR", "SUBM", "VOID", "CONF", "REQS", "CMPL", "HOLD", "RELS"},
}

// dcsaReferences are the reference parameters and the longest value the
// standard lets each have.
var dcsaReferences = map[string]int{"carrierBookingReference": 35, "transportDocumentReference": 20, "equipmentReference": 15}

// dcsaTimeBounds are the operators on eventCreatedDateTime.
var dcsaTimeBounds = []string{"eventCreatedDateTime", "eventCreatedDateTime:gte", "eventCreatedDateTime:gt",
	"eventCreatedDateTime:lte", "eventCreatedDateTime:lt", "eventCreatedDateTime:eq"}

// dcsaParameters lists what the endpoint takes, for the errors.
const dcsaParameters = "eventType, transportEventTypeCode, equipmentEventTypeCode, shipmentEventTypeCode, carrierBookingReference, " +
	"transportDocumentReference, equipmentReference, eventCreatedDateTime (with :gte, :gt, :lte, :lt or :eq), limit, cursor"

// dcsaRequest is a request's query, read: the filters to list with, and
// the parameters that gave them (without the cursor), which a cursor
// carries on.
type dcsaRequest struct {
	q      dispatcher.DCSAFeedQuery
	filter url.Values
	// continued is whether the request named a cursor.
	continued bool
}

// dcsaCursor is what a cursor holds: the query and the place after which
// the next page starts.
type dcsaCursor struct {
	Query   string `json:"q"`
	AddedAt int64  `json:"a"`
	EventID string `json:"e"`
}

// parseDCSAQuery reads raw, a request's query. partner_id, shiphook's own
// (an admin's choice of partner), is left to the caller. A cursor comes
// alone: it carries the query of the page it continues. Returns a
// *subscriptions.FieldError naming the parameter at fault.
func parseDCSAQuery(raw string) (dcsaRequest, error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return dcsaRequest{}, subscriptions.Fieldf("query", "is not a valid URL query: %v", err)
	}
	values.Del("partner_id")
	cursor, ok := values["cursor"]
	if !ok {
		return parseDCSAFilter(values)
	}
	if len(values) > 1 || len(cursor) > 1 {
		return dcsaRequest{}, subscriptions.Fieldf("cursor", "carries the query of the page it continues: send it alone, as the Next-Page header gives it")
	}
	c, err := decodeDCSACursor(cursor[0])
	if err != nil {
		return dcsaRequest{}, err
	}
	filter, err := url.ParseQuery(c.Query)
	if err != nil || filter.Has("cursor") {
		return dcsaRequest{}, badDCSACursor()
	}
	r, err := parseDCSAFilter(filter)
	if err != nil {
		return dcsaRequest{}, badDCSACursor()
	}
	r.q.After = &dispatcher.DCSAFeedPlace{AddedAt: time.UnixMicro(c.AddedAt).UTC(), EventID: c.EventID}
	r.continued = true
	return r, nil
}

func badDCSACursor() error {
	return subscriptions.Fieldf("cursor", "is not a cursor this endpoint gave: use the Next-Page header of the page before, or leave it out to start again")
}

func decodeDCSACursor(s string) (dcsaCursor, error) {
	var c dcsaCursor
	if len(s) > maxDCSACursor {
		return c, badDCSACursor()
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(raw, &c) != nil || c.EventID == "" || !subscriptions.StorableText(c.EventID) {
		return c, badDCSACursor()
	}
	return c, nil
}

// encodeDCSACursor returns the cursor of the page after place, of the
// query filter.
func encodeDCSACursor(filter url.Values, place dispatcher.DCSAFeedPlace) string {
	raw, _ := json.Marshal(dcsaCursor{Query: filter.Encode(), AddedAt: place.AddedAt.UnixMicro(), EventID: place.EventID})
	return base64.RawURLEncoding.EncodeToString(raw)
}

// parseDCSAFilter reads the DCSA parameters of values.
func parseDCSAFilter(values url.Values) (dcsaRequest, error) {
	r := dcsaRequest{q: dispatcher.DCSAFeedQuery{Limit: dcsaDefaultLimit}, filter: url.Values{}}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if err := r.read(name, values[name]); err != nil {
			return dcsaRequest{}, err
		}
		r.filter[name] = values[name]
	}
	if f, t := r.q.CreatedFrom, r.q.CreatedTo; f != nil && t != nil && f.After(*t) {
		return dcsaRequest{}, subscriptions.Fieldf("eventCreatedDateTime", "its lower bound %s is after its upper bound %s", f.Format(time.RFC3339Nano), t.Format(time.RFC3339Nano))
	}
	return r, nil
}

// read reads the parameter name, given values.
func (r *dcsaRequest) read(name string, values []string) error {
	if !subscriptions.StorableText(name) {
		return subscriptions.Fieldf("query", "has a parameter name that is not text; the parameters are %s", dcsaParameters)
	}
	if len(values) > 1 && !slices.Contains([]string{"eventType", "transportEventTypeCode", "equipmentEventTypeCode", "shipmentEventTypeCode"}, name) {
		return subscriptions.Fieldf(name, "is given %d times; give it once", len(values))
	}
	switch {
	case dcsaCodes[name] != nil:
		codes, err := dcsaCodeList(name, values)
		if err != nil {
			return err
		}
		switch name {
		case "eventType":
			r.q.EventTypes = codes
		case "transportEventTypeCode":
			r.q.TransportCodes = codes
		case "equipmentEventTypeCode":
			r.q.EquipmentCodes = codes
		default:
			r.q.ShipmentCodes = codes
		}
	case dcsaReferences[name] > 0:
		return r.reference(name, values[0])
	case slices.Contains(dcsaTimeBounds, name):
		return r.timeBound(name, values[0])
	case name == "limit":
		n, err := strconv.Atoi(values[0])
		if err != nil || n < 1 || n > dcsaMaxLimit {
			return subscriptions.Fieldf("limit", "must be a whole number from 1 to %d (default %d)", dcsaMaxLimit, dcsaDefaultLimit)
		}
		r.q.Limit = n
	default:
		return subscriptions.Fieldf("query", "parameter %q is not one this endpoint takes; it takes %s", name, dcsaParameters)
	}
	return nil
}

// dcsaCodeList reads a list parameter: values, each of them
// comma-separated codes of dcsaCodes[name], any of which matches.
func dcsaCodeList(name string, values []string) ([]string, error) {
	var codes []string
	for _, v := range values {
		for _, code := range strings.Split(v, ",") {
			code = strings.TrimSpace(code)
			if !slices.Contains(dcsaCodes[name], code) {
				return nil, subscriptions.Fieldf(name, "%q is not one of %s; several are separated by commas", code, strings.Join(dcsaCodes[name], ", "))
			}
			if !slices.Contains(codes, code) {
				codes = append(codes, code)
			}
		}
	}
	return codes, nil
}

func (r *dcsaRequest) reference(name, v string) error {
	if v == "" || len([]rune(v)) > dcsaReferences[name] {
		return subscriptions.Fieldf(name, "must be 1 to %d characters", dcsaReferences[name])
	}
	switch name {
	case "carrierBookingReference":
		r.q.Booking = v
	case "transportDocumentReference":
		r.q.BillOfLading = v
	default:
		r.q.Equipment = v
	}
	return nil
}

// timeBound reads eventCreatedDateTime with its operator: a bound, or
// two for :eq and no operator. :gt and :lt exclude their time, to the
// microsecond the feed keeps.
func (r *dcsaRequest) timeBound(name, v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return subscriptions.Fieldf(name, "%q is not a date-time with its offset, such as 2021-04-01T14:12:56+01:00 (in a URL, + is %%2B)", v)
	}
	t = t.UTC().Truncate(time.Microsecond)
	_, op, _ := strings.Cut(name, ":")
	switch op {
	case "gte":
		r.q.CreatedFrom = later(r.q.CreatedFrom, t)
	case "gt":
		r.q.CreatedFrom = later(r.q.CreatedFrom, t.Add(time.Microsecond))
	case "lte":
		r.q.CreatedTo = earlier(r.q.CreatedTo, t)
	case "lt":
		r.q.CreatedTo = earlier(r.q.CreatedTo, t.Add(-time.Microsecond))
	default:
		r.q.CreatedFrom, r.q.CreatedTo = later(r.q.CreatedFrom, t), earlier(r.q.CreatedTo, t)
	}
	return nil
}

func later(b *time.Time, t time.Time) *time.Time {
	if b != nil && b.After(t) {
		return b
	}
	return &t
}

func earlier(b *time.Time, t time.Time) *time.Time {
	if b != nil && b.Before(t) {
		return b
	}
	return &t
}
