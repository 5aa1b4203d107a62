package subscriptions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// EventType is one entry of the catalog: its name, what it means, a JSON
// Schema for its data, and an example of that data.
type EventType struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	// Example is a realistic data object that passes ValidateData for the
	// type, such as the console sends as a test event. It never holds the
	// keys that deliveries add (event_id, shipment, role).
	Example json.RawMessage `json:"example"`
}

// ErrUnknownType is wrapped by the errors of ValidateData and ValidPattern
// when a type is not in the catalog. Those errors are also *FieldError.
var ErrUnknownType = errors.New("unknown event type")

// operationalPrefix starts the description of every type that shiphook
// emits itself; sources cannot post those types.
const operationalPrefix = "Emitted by shiphook"

// Catalog returns every event type, sorted by name. The result is a copy
// that the caller may keep and change.
func Catalog() []EventType {
	c := loadCatalog()
	out := make([]EventType, len(c.sorted))
	for i, e := range c.sorted {
		out[i] = e.typ
		out[i].Schema = slices.Clone(e.typ.Schema)
		out[i].Example = slices.Clone(e.typ.Example)
	}
	return out
}

// LookupType returns the catalog entry named name and whether it exists.
// Names are case-sensitive. The returned Schema shares memory with the
// catalog and must not be modified.
func LookupType(name string) (EventType, bool) {
	e, ok := loadCatalog().byName[name]
	if !ok {
		return EventType{}, false
	}
	return e.typ, true
}

// ExampleData returns the example data object of type typ (see
// EventType.Example) and whether the type exists. The result is a copy that
// the caller may keep and change.
func ExampleData(typ string) (json.RawMessage, bool) {
	e, ok := loadCatalog().byName[typ]
	if !ok {
		return nil, false
	}
	return slices.Clone(e.typ.Example), true
}

// ValidateData checks that data (the event's "data" object) holds none of
// the reservedDataKeys and meets the schema of type typ, as NormalizeData
// does, without returning the data. Returns a *FieldError whose Field is
// "data" or "data.<path>" (such as "data.invoice_number") and whose
// message a person can act on, or, for a type not in the catalog, a
// *FieldError with Field "type" that also wraps ErrUnknownType.
//
// When data breaks several rules, the error reports one of them, always the
// same one for the same input: the one whose Field sorts first. Paths into
// arrays use brackets: "data.routing[1].mode". ValidateData is safe for
// concurrent use; the schemas are compiled once, on first use.
func ValidateData(typ string, data json.RawMessage) error {
	_, err := NormalizeData(typ, data)
	return err
}

// NormalizeData checks data as ValidateData says and returns it as
// deliveries carry it: compact, every decimal (an amount) as a decimal
// string with its digits as given, every place given by its UN/LOCODE
// alone as the object {"code": …}, and every other byte as given. Errors
// are those of ValidateData. Safe for concurrent use.
func NormalizeData(typ string, data json.RawMessage) (json.RawMessage, error) {
	c := loadCatalog()
	e, ok := c.byName[typ]
	if !ok {
		return nil, unknownType("type", typ)
	}
	var compact bytes.Buffer
	compact.Grow(len(data))
	if err := json.Compact(&compact, data); err != nil {
		return nil, Fieldf("data", "is not valid JSON: %v", err)
	}
	out, errs := rewrite(compact.Bytes(), e.shape)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		return nil, Fieldf("data", "is not valid JSON: %v", err)
	}
	if k := reservedKey(v); k != "" {
		return nil, Fieldf("data."+k, "is set by shiphook in every delivery; leave it out of data")
	}
	if err := e.schema.Validate(v); err != nil {
		var verr *jsonschema.ValidationError
		if !errors.As(err, &verr) {
			return nil, fmt.Errorf("validate %s data: %w", typ, err)
		}
		errs = append(errs, c.fieldError(verr, v))
	}
	if len(errs) > 0 {
		// The rewriter's errors come first, so that of two errors about
		// one field, its own, the more precise, is reported.
		return nil, slices.MinFunc(errs, func(a, b *FieldError) int { return strings.Compare(a.Field, b.Field) })
	}
	return out, nil
}

// DeliveredData returns the data of a stored event of type typ as a
// delivery carries it. Events stored before decimals were written as
// strings may hold them as JSON numbers: those become decimal strings, as
// NormalizeData writes them now, and a number that is not a decimal
// within MaxDecimalDigits stays as stored. Data already in that form, as
// all data stored since is, comes back as is, not copied.
func DeliveredData(typ string, data json.RawMessage) json.RawMessage {
	e, ok := loadCatalog().byName[typ]
	if !ok || !e.decimals {
		return data
	}
	out, _ := rewrite(data, e.shape)
	return out
}

// ValidPattern checks entry i of an endpoint's event_types: p must be an
// exact catalog type, a prefix wildcard ending in ".*" (such as
// "shipment.milestone.*" or "shipment.*") that matches at least one catalog
// type, or "*". Returns a *FieldError with Field "event_types[i]"; when p
// names or matches no catalog type, the error also wraps ErrUnknownType.
func ValidPattern(i int, p string) error {
	field := "event_types[" + strconv.Itoa(i) + "]"
	switch {
	case p == "":
		return Fieldf(field, "must not be empty; use \"*\" for every type")
	case p == "*":
		return nil
	case strings.HasSuffix(p, ".*"):
		if strings.Contains(p[:len(p)-2], "*") {
			return Fieldf(field, "%q: only one wildcard is allowed, at the end, as in \"shipment.milestone.*\"", p)
		}
		for _, e := range loadCatalog().sorted {
			if TypeMatches(p, e.typ.Name) {
				return nil
			}
		}
		return &unknownTypeError{Fieldf(field, "%q matches no event type; see GET /v1/event-types", p)}
	case strings.Contains(p, "*"):
		return Fieldf(field, "%q: a wildcard must be a whole last part, as in \"shipment.milestone.*\", or \"*\" alone", p)
	}
	if _, ok := loadCatalog().byName[p]; ok {
		return nil
	}
	return unknownType(field, p)
}

// TypeMatches reports whether an event of type typ passes the endpoint
// pattern: "*" matches every type, a pattern ending in ".*" matches every
// type that starts with the part before the "*" ("a.b.*" matches "a.b.x"
// and "a.b.x.y" but not "a.b"), and any other pattern only the type of
// that exact name.
func TypeMatches(pattern, typ string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok && strings.HasSuffix(prefix, ".") {
		return len(typ) > len(prefix) && strings.HasPrefix(typ, prefix)
	}
	return pattern == typ
}

// unknownTypeError is a *FieldError that also wraps ErrUnknownType.
type unknownTypeError struct{ *FieldError }

func (e *unknownTypeError) Unwrap() []error { return []error{e.FieldError, ErrUnknownType} }

// unknownType returns the error for a type name that is not in the
// catalog, with a hint when the name is a family of types.
func unknownType(field, name string) error {
	for _, e := range loadCatalog().sorted {
		if strings.HasPrefix(e.typ.Name, name+".") {
			return &unknownTypeError{Fieldf(field, "%q is a family of event types, not a type; name one, such as %q, or match them all with %q", name, e.typ.Name, name+".*")}
		}
	}
	return &unknownTypeError{Fieldf(field, "unknown event type %q; see GET /v1/event-types", name)}
}

// --- The catalog ---

// catalog is the compiled catalog.
type catalog struct {
	sorted []*catalogEntry
	byName map[string]*catalogEntry
	// nodes maps the location of every compiled (sub)schema to it, to find
	// the description of the field an error is about.
	nodes map[string]*jsonschema.Schema
}

type catalogEntry struct {
	typ    EventType
	schema *jsonschema.Schema
	// shape says where the data's decimals and places are; decimals
	// whether it has any decimal.
	shape    *shape
	decimals bool
}

// schemaURL is the base URL under which a type's schema is compiled; it
// appears nowhere outside this package.
const schemaURL = "urn:shiphook:event-type:"

// loadCatalog builds and compiles the catalog on first use. It panics if a
// schema does not compile, which the package's tests rule out.
var loadCatalog = sync.OnceValue(func() *catalog {
	c, err := buildCatalog(slices.Concat(eventTypes(), equipmentTypes(), documentTypes()))
	if err != nil {
		panic("subscriptions: event type catalog: " + err.Error())
	}
	return c
})

// typeDef is one catalog entry before compilation.
type typeDef struct {
	name, description string
	data              schema
	example           string // valid data, as JSON
}

// reservedDataKeys are the keys that deliveries add to a shipment event's
// data; examples leave them out, as sources must (ValidateData).
var reservedDataKeys = []string{"event_id", "shipment", "role"}

// reservedKey returns the first of reservedDataKeys that v, decoded data,
// holds, or "" when it holds none or is not an object.
func reservedKey(v any) string {
	fields, _ := v.(map[string]any)
	for _, k := range reservedDataKeys {
		if _, ok := fields[k]; ok {
			return k
		}
	}
	return ""
}

func buildCatalog(defs []typeDef) (*catalog, error) {
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	comp.RegisterFormat(&jsonschema.Format{Name: decimalFormat, Validate: validateDecimal})
	c := &catalog{byName: map[string]*catalogEntry{}, nodes: map[string]*jsonschema.Schema{}}
	for _, d := range defs {
		if _, dup := c.byName[d.name]; dup {
			return nil, fmt.Errorf("%s: listed twice", d.name)
		}
		s := maps.Clone(d.data)
		s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
		s["title"] = d.name
		raw, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
		if err := comp.AddResource(schemaURL+d.name, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
		sch, err := comp.Compile(schemaURL + d.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
		c.index(sch)
		sh := shapeOf(sch)
		example, err := c.checkExample(sch, sh, d.example)
		if err != nil {
			return nil, fmt.Errorf("%s: example: %w", d.name, err)
		}
		e := &catalogEntry{typ: EventType{Name: d.name, Description: d.description, Schema: raw, Example: example},
			schema: sch, shape: sh, decimals: sh.hasDecimal()}
		c.byName[d.name] = e
		c.sorted = append(c.sorted, e)
	}
	slices.SortFunc(c.sorted, func(a, b *catalogEntry) int { return strings.Compare(a.typ.Name, b.typ.Name) })
	return c, nil
}

// checkExample returns example compacted, after checking that it is an
// object without reserved keys that sch accepts, already in the form
// deliveries carry (sh leaves it unchanged). sch must be indexed.
func (c *catalog) checkExample(sch *jsonschema.Schema, sh *shape, example string) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(example)); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if out, errs := rewrite(buf.Bytes(), sh); len(errs) > 0 {
		return nil, errs[0]
	} else if !bytes.Equal(out, buf.Bytes()) {
		return nil, fmt.Errorf("show data as deliveries carry it, amounts as decimal strings and places as objects: %s", out)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &fields); err != nil || fields == nil {
		return nil, errors.New("not a JSON object")
	}
	if len(fields) == 0 {
		return nil, errors.New("empty; show some fields")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	if k := reservedKey(v); k != "" {
		return nil, fmt.Errorf("uses %q, which deliveries add", k)
	}
	if err := sch.Validate(v); err != nil {
		var verr *jsonschema.ValidationError
		if errors.As(err, &verr) {
			return nil, c.fieldError(verr, v)
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// index records sch and every schema below it in c.nodes.
func (c *catalog) index(sch *jsonschema.Schema) {
	if sch == nil || c.nodes[sch.Location] != nil {
		return
	}
	c.nodes[sch.Location] = sch
	for _, p := range sch.Properties {
		c.index(p)
	}
	c.index(sch.Items2020)
	for _, group := range [][]*jsonschema.Schema{sch.AllOf, sch.AnyOf, sch.OneOf} {
		for _, s := range group {
			c.index(s)
		}
	}
	c.index(sch.Ref)
}

// --- Turning a validation error into a FieldError ---

var printer = message.NewPrinter(language.English)

// fieldError picks the problem of verr to report, deterministically, and
// words it for the person who posted data (decoded as v).
func (c *catalog) fieldError(verr *jsonschema.ValidationError, v any) *FieldError {
	var found []*FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		switch e.ErrorKind.(type) {
		case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
			for _, cause := range e.Causes {
				walk(cause)
			}
			if len(e.Causes) > 0 {
				return
			}
		}
		found = append(found, c.describe(e, v))
	}
	walk(verr)
	return slices.MinFunc(found, func(a, b *FieldError) int {
		if n := strings.Compare(a.Field, b.Field); n != 0 {
			return n
		}
		return strings.Compare(a.Message, b.Message)
	})
}

// describe words one problem.
func (c *catalog) describe(e *jsonschema.ValidationError, v any) *FieldError {
	field := fieldPath(v, e.InstanceLocation)
	node := c.nodes[e.SchemaURL]
	hint := ""
	if node != nil && node.Description != "" {
		hint = " (" + firstSentence(node.Description) + ")"
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		missing := slices.Min(k.Missing)
		hint = ""
		if node != nil && node.Properties[missing] != nil && node.Properties[missing].Description != "" {
			hint = " (" + firstSentence(node.Properties[missing].Description) + ")"
		}
		return Fieldf(field+"."+missing, "is required%s", hint)
	case *kind.Type:
		if node != nil && node.Format != nil && node.Format.Name == decimalFormat {
			return Fieldf(field, "must be a decimal, given as a JSON number or a string such as \"2452.37\", not %s", typeName(k.Got))
		}
		if node != nil && isPlace(node) {
			return Fieldf(field, "must be a place, given as an object with its \"code\" and \"name\" or as its UN/LOCODE such as \"NLRTM\", not %s", typeName(k.Got))
		}
		return Fieldf(field, "must be %s, not %s", typeNames(k.Want), typeName(k.Got))
	case *kind.Format:
		switch k.Want {
		case decimalFormat:
			return Fieldf(field, "%s %v", display(k.Got), k.Err)
		case "date-time":
			return Fieldf(field, "%s is not an RFC 3339 date-time such as 2026-11-26T14:05:00Z", display(k.Got))
		case "date":
			return Fieldf(field, "%s is not a date such as 2026-11-26", display(k.Got))
		case "uri":
			return Fieldf(field, "%s is not an absolute URL such as https://example.com/doc.pdf", display(k.Got))
		}
		return Fieldf(field, "%s is not a valid %s", display(k.Got), k.Want)
	case *kind.Pattern:
		return Fieldf(field, "%s does not have the expected form%s", display(k.Got), hint)
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = display(w)
		}
		return Fieldf(field, "%s is not allowed; use one of %s", display(k.Got), strings.Join(want, ", "))
	case *kind.Minimum:
		return Fieldf(field, "must be at least %s%s", k.Want.RatString(), hint)
	case *kind.MinLength:
		if k.Want == 1 {
			return Fieldf(field, "must not be empty")
		}
		return Fieldf(field, "must be at least %d characters", k.Want)
	case *kind.AnyOf, *kind.OneOf:
		// Each alternative of a schema here asks for one of several fields.
		var names []string
		for _, cause := range e.Causes {
			if r, ok := cause.ErrorKind.(*kind.Required); ok {
				names = append(names, r.Missing...)
			}
		}
		if len(names) == len(e.Causes) && len(names) > 0 {
			return Fieldf(field, "give at least one of %s%s", strings.Join(names, ", "), hint)
		}
		return Fieldf(field, "does not match any allowed form%s", hint)
	}
	return Fieldf(field, "%s%s", e.ErrorKind.LocalizedString(printer), hint)
}

// firstSentence returns the first sentence of a description, without its
// full stop, to quote in a message.
func firstSentence(description string) string {
	first, _, _ := strings.Cut(description, ". ")
	return strings.TrimSuffix(first, ".")
}

// fieldPath turns an instance location into "data.a.b[2].c", looking at
// the value to tell array indexes from object keys.
func fieldPath(v any, loc []string) string {
	var b strings.Builder
	b.WriteString("data")
	for _, tok := range loc {
		switch x := v.(type) {
		case []any:
			b.WriteString("[" + tok + "]")
			v = nil
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(x) {
				v = x[i]
			}
		case map[string]any:
			b.WriteString("." + tok)
			v = x[tok]
		default:
			b.WriteString("." + tok)
			v = nil
		}
	}
	return b.String()
}

func typeName(t string) string {
	switch t {
	case "object", "array", "integer":
		return "an " + t
	case "boolean":
		return "true or false"
	case "null":
		return "null"
	}
	return "a " + t
}

func typeNames(ts []string) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = typeName(t)
	}
	return strings.Join(out, " or ")
}

// display quotes a JSON value for a message, shortening long strings.
func display(v any) string {
	if s, ok := v.(string); ok {
		if len(s) > 60 {
			s = s[:57] + "..."
		}
		return strconv.Quote(s)
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) > 60 {
		return "the value"
	}
	return string(b)
}
