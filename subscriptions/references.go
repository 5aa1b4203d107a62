package subscriptions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// References are the numbers by which the systems of a network know one
// shipment: the carrier's booking, the transport document (bill of
// lading), its containers (ISO 6346), the purchase orders and the
// customer's own references. Any of them may name the shipment an event
// is about.
type References struct {
	Booking            string   `json:"booking,omitempty"`
	BillOfLading       string   `json:"bill_of_lading,omitempty"`
	Containers         []string `json:"containers,omitempty"`
	PurchaseOrders     []string `json:"purchase_orders,omitempty"`
	CustomerReferences []string `json:"customer_references,omitempty"`
}

// The kinds of reference, as the keys of References in JSON.
const (
	RefBooking           = "booking"
	RefBillOfLading      = "bill_of_lading"
	RefContainer         = "containers"
	RefPurchaseOrder     = "purchase_orders"
	RefCustomerReference = "customer_references"
)

// ReferenceKinds lists the kinds of reference, in the order of References.
var ReferenceKinds = []string{RefBooking, RefBillOfLading, RefContainer, RefPurchaseOrder, RefCustomerReference}

// Reference is one reference: its kind (one of ReferenceKinds) and value.
type Reference struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// MaxReferences is the most values References may hold, all kinds
// together; MaxReferenceLen the longest value, in bytes.
const (
	MaxReferences   = 50
	MaxReferenceLen = 100
)

// IsZero reports whether r holds no reference.
func (r References) IsZero() bool { return len(r.List()) == 0 }

// List returns every reference of r, kind by kind in the order of
// ReferenceKinds, values in the order given.
func (r References) List() []Reference {
	var out []Reference
	for _, k := range ReferenceKinds {
		for _, v := range r.values(k) {
			out = append(out, Reference{Kind: k, Value: v})
		}
	}
	return out
}

// values returns the values of kind k in r.
func (r References) values(k string) []string {
	switch k {
	case RefBooking:
		if r.Booking != "" {
			return []string{r.Booking}
		}
	case RefBillOfLading:
		if r.BillOfLading != "" {
			return []string{r.BillOfLading}
		}
	case RefContainer:
		return r.Containers
	case RefPurchaseOrder:
		return r.PurchaseOrders
	case RefCustomerReference:
		return r.CustomerReferences
	}
	return nil
}

// Add returns r with the references of o added: a booking or bill of
// lading of o replaces r's, the values of the lists are added to r's,
// each value once.
func (r References) Add(o References) References {
	out := References{Booking: r.Booking, BillOfLading: r.BillOfLading}
	if o.Booking != "" {
		out.Booking = o.Booking
	}
	if o.BillOfLading != "" {
		out.BillOfLading = o.BillOfLading
	}
	union := func(a, b []string) []string {
		out := slices.Clone(a)
		for _, v := range b {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		return out
	}
	out.Containers = union(r.Containers, o.Containers)
	out.PurchaseOrders = union(r.PurchaseOrders, o.PurchaseOrders)
	out.CustomerReferences = union(r.CustomerReferences, o.CustomerReferences)
	return out
}

// ReferencesOf returns the References that hold list.
func ReferencesOf(list []Reference) References {
	var r References
	for _, ref := range list {
		r = r.Add(References{}.with(ref))
	}
	return r
}

func (r References) with(ref Reference) References {
	switch ref.Kind {
	case RefBooking:
		r.Booking = ref.Value
	case RefBillOfLading:
		r.BillOfLading = ref.Value
	case RefContainer:
		r.Containers = []string{ref.Value}
	case RefPurchaseOrder:
		r.PurchaseOrders = []string{ref.Value}
	case RefCustomerReference:
		r.CustomerReferences = []string{ref.Value}
	}
	return r
}

// ParseReferences decodes raw, the references of a request at field (such
// as "shipment.references"), and checks them: only the keys of
// ReferenceKinds, booking and bill_of_lading strings, the others arrays of
// strings, at most MaxReferences values in all, each storable text of 1
// to MaxReferenceLen bytes, containers ISO 6346 numbers with their check
// digit (written in capitals; given in small letters, they are kept in
// capitals). Empty or null raw is no references. Errors are a
// *FieldError naming the key or the value at fault.
func ParseReferences(field string, raw json.RawMessage) (References, error) {
	var r References
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return r, nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return r, Fieldf(field, "must be an object with the keys %s", strings.Join(ReferenceKinds, ", "))
	}
	for k := range keys {
		if !slices.Contains(ReferenceKinds, k) {
			return r, Fieldf(field+"."+k, "unknown kind of reference %s; use %s", display(k), strings.Join(ReferenceKinds, ", "))
		}
	}
	for _, k := range ReferenceKinds {
		v, ok := keys[k]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		var err error
		switch k {
		case RefBooking, RefBillOfLading:
			var s string
			if err = json.Unmarshal(v, &s); err != nil {
				return r, Fieldf(field+"."+k, "must be a string")
			}
			r = r.Add(References{}.with(Reference{Kind: k, Value: s}))
		default:
			var list []string
			if err = json.Unmarshal(v, &list); err != nil {
				return r, Fieldf(field+"."+k, "must be an array of strings")
			}
			for _, s := range list {
				r = r.Add(References{}.with(Reference{Kind: k, Value: s}))
			}
		}
	}
	return r, r.check(field)
}

// check checks the values of r (see ParseReferences), upper-casing its
// containers.
func (r *References) check(field string) error {
	for i, c := range r.Containers {
		r.Containers[i] = strings.ToUpper(c)
	}
	n := 0
	for _, k := range ReferenceKinds {
		for i, v := range r.values(k) {
			n++
			at := field + "." + k
			if k != RefBooking && k != RefBillOfLading {
				at = fmt.Sprintf("%s[%d]", at, i)
			}
			if err := checkReference(at, k, v); err != nil {
				return err
			}
		}
	}
	if n > MaxReferences {
		return Fieldf(field, "at most %d references in all, got %d", MaxReferences, n)
	}
	return nil
}

func checkReference(field, kind, v string) error {
	switch {
	case strings.TrimSpace(v) == "":
		return Fieldf(field, "must not be empty")
	case len(v) > MaxReferenceLen:
		return Fieldf(field, "must be at most %d characters", MaxReferenceLen)
	case !StorableText(v):
		return Fieldf(field, textMessage)
	case kind == RefContainer:
		return CheckContainer(field, v)
	}
	return nil
}

// CheckContainer returns a *FieldError naming field unless s is an ISO
// 6346 container number: an owner code of three capital letters, the
// category U, J or Z, six digits and the check digit they give.
func CheckContainer(field, s string) error {
	const form = "an ISO 6346 container number such as APZU4812090 (3 letters, U, J or Z, 6 digits and a check digit)"
	if len(s) != 11 {
		return Fieldf(field, "%s is not %s", display(s), form)
	}
	for i := range 11 {
		c := s[i]
		letter := c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9'
		if i < 4 && !letter || i >= 4 && !digit || i == 3 && c != 'U' && c != 'J' && c != 'Z' {
			return Fieldf(field, "%s is not %s", display(s), form)
		}
	}
	if want := ContainerCheckDigit(s[:10]); s[10] != want {
		return Fieldf(field, "%s has the check digit %c; ISO 6346 gives %c for %s", s, s[10], want, s[:10])
	}
	return nil
}

// ContainerCheckDigit returns the ISO 6346 check digit of the first ten
// characters of a container number, capital letters and digits: each
// letter worth 10 to 38, skipping the multiples of 11, each digit its
// value, weighted by 2^position, summed modulo 11, and 10 written 0.
func ContainerCheckDigit(s string) byte {
	sum := 0
	for i := range 10 {
		c := s[i]
		v := int(c - '0')
		if c >= 'A' && c <= 'Z' {
			v = 10 + int(c-'A')
			v += (v - 1) / 10 // skip 11, 22 and 33
		}
		sum += v << i
	}
	return byte('0' + sum%11%10)
}
