package subscriptions

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// FilterKeys are the fields an endpoint filter may test.
var FilterKeys = []string{"shipment.mode", "shipment.origin", "shipment.destination", "shipment.carrier", "role"}

// Filter narrows an endpoint to shipments whose fields equal one of the
// listed values; every key must match. In JSON a value is a string or an
// array of strings: {"shipment.mode": ["ocean", "air"], "role": "consignee"}.
type Filter map[string][]string

// UnmarshalJSON accepts a string or an array of strings for each key.
func (f *Filter) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("filter must be an object: %w", err)
	}
	out := Filter{}
	for k, v := range raw {
		var one string
		if err := json.Unmarshal(v, &one); err == nil {
			out[k] = []string{one}
			continue
		}
		var many []string
		if err := json.Unmarshal(v, &many); err != nil {
			return fmt.Errorf("filter %q must be a string or an array of strings", k)
		}
		out[k] = many
	}
	*f = out
	return nil
}

// MarshalJSON writes every value as an array; a nil filter is {}.
func (f Filter) MarshalJSON() ([]byte, error) {
	if f == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string][]string(f))
}

// Validate returns a *FieldError naming the first unknown key, or the
// key of the first value that is empty or outside the key's vocabulary:
// shipment.mode one of Modes, role one of Roles, shipment.origin and
// shipment.destination UN/LOCODEs, shipment.carrier a carrier code, each
// ignoring case as Matches does.
func (f Filter) Validate() error {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		known := false
		for _, fk := range FilterKeys {
			known = known || k == fk
		}
		if !known {
			return &FieldError{Field: "filter." + k, Message: "unknown filter key; use one of " + strings.Join(FilterKeys, ", ")}
		}
		if len(f[k]) == 0 {
			return &FieldError{Field: "filter." + k, Message: "give at least one value"}
		}
		for _, v := range f[k] {
			if v == "" {
				return &FieldError{Field: "filter." + k, Message: "values must not be empty"}
			}
			if err := checkFilterValue("filter."+k, k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Matches reports whether an event with these field values passes the
// filter. fields maps filter keys to the event's values.
func (f Filter) Matches(fields func(key string) string) bool {
	for k, allowed := range f {
		v := fields(k)
		ok := false
		for _, a := range allowed {
			if strings.EqualFold(a, v) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
