// Package sources turns what a source system sends into canonical events:
// a source's format (shiphook, dcsa-tnt-2.2 or mapped) gives its
// Translator, which splits a payload into Items, each with the original
// element and the canonical events it became.
package sources

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

// Format is how a source speaks.
type Format string

const (
	// FormatShiphook: canonical events as POST /v1/events takes them.
	FormatShiphook Format = "shiphook"
	// FormatDCSA: DCSA Track & Trace 2.2 notifications, signed with the
	// source's secret.
	FormatDCSA Format = "dcsa-tnt-2.2"
	// FormatMapped: any JSON, turned into canonical events by the source's
	// mapping, a jq program with code tables.
	FormatMapped Format = "mapped"
)

// MaxItems is the most items one payload may carry, as a batch of events.
const MaxItems = 500

// Source is a system that posts its own payloads to
// POST /v1/sources/{id}/events.
type Source struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Format Format `json:"format"`
	// Mapping is set for a mapped source only.
	Mapping *MappingSpec `json:"mapping,omitempty"`
	// Secret, for a DCSA source only, is the base64 of the key that signs
	// its notifications (DCSA's subscription secret). Never encoded: it is
	// shown on creation and by GET …/secret.
	Secret    string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MappingSpec is a mapped source's mapping as saved: a jq program and the
// code tables it reads as $codes (table name → code → value).
type MappingSpec struct {
	Program string                       `json:"program"`
	Codes   map[string]map[string]string `json:"codes,omitempty"`
}

// Input is a source as created or changed through the API; a field left
// out stays as it is. Format is taken on creation only.
type Input struct {
	// ID, given only on creation, is the source's id: 1 to 64 characters
	// of a-z, 0-9, _ and -. Made (src_…) when not given.
	ID      string       `json:"id"`
	Name    *string      `json:"name"`
	Format  Format       `json:"format"`
	Mapping *MappingSpec `json:"mapping"`
	// Secret, for a DCSA source, is the base64 of 16 to 256 bytes; made
	// (32 random bytes) when a DCSA source is created without one.
	Secret *string `json:"secret"`
}

// Created is the answer to creating a source: the only answer but
// GET …/secret that shows its secret.
type Created struct {
	Source
	Secret string `json:"secret,omitempty"`
}

// idPattern is what a source id given on creation must match: as a
// partner's id.
var idPattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// NewSource returns the source that in describes, with the id given or a fresh one; it is
// not stored. A mapped source's mapping is compiled. Returns a
// *subscriptions.FieldError for bad input, or a *subscriptions.Error of
// kind Malformed, code invalid_mapping, for a program that does not
// compile.
func NewSource(in Input) (Source, error) {
	switch in.Format {
	case FormatShiphook, FormatDCSA, FormatMapped:
	case "":
		return Source{}, subscriptions.Fieldf("format", "is required: shiphook, dcsa-tnt-2.2 or mapped")
	default:
		return Source{}, subscriptions.Fieldf("format", "unknown format %q; use shiphook, dcsa-tnt-2.2 or mapped", in.Format)
	}
	if in.Format == FormatMapped && in.Mapping == nil {
		return Source{}, subscriptions.Fieldf("mapping", "a mapped source needs a mapping: {\"program\": \"<jq>\", \"codes\": {…}}")
	}
	now := time.Now().UTC()
	s := Source{ID: in.ID, Format: in.Format, CreatedAt: now, UpdatedAt: now}
	if s.ID == "" {
		s.ID = subscriptions.NewID("src")
	} else if !idPattern.MatchString(s.ID) {
		return Source{}, subscriptions.Fieldf("id", "must be 1 to 64 characters of a-z, 0-9, _ and -")
	}
	if in.Format == FormatDCSA && in.Secret == nil {
		s.Secret = NewSecret()
	}
	if err := in.apply(&s); err != nil {
		return Source{}, err
	}
	return s, nil
}

// Update applies in to s, stamping UpdatedAt with now; it is not stored.
// Returns the errors of NewSource, or a *subscriptions.FieldError if in
// changes the format.
func (in Input) Update(s *Source, now time.Time) error {
	if in.Format != "" && in.Format != s.Format {
		return subscriptions.Fieldf("format", "a source's format cannot change; create a new source")
	}
	if in.ID != "" && in.ID != s.ID {
		return subscriptions.Fieldf("id", "a source's id cannot change")
	}
	if err := in.apply(s); err != nil {
		return err
	}
	s.UpdatedAt = now
	return nil
}

func (in Input) apply(s *Source) error {
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if len(name) > 200 {
			return subscriptions.Fieldf("name", "must be at most 200 characters")
		}
		s.Name = name
	}
	if in.Mapping != nil {
		if s.Format != FormatMapped {
			return subscriptions.Fieldf("mapping", "only a mapped source has a mapping")
		}
		if err := in.Mapping.Check(); err != nil {
			return err
		}
		m := *in.Mapping
		s.Mapping = &m
	}
	if in.Secret != nil {
		if s.Format != FormatDCSA {
			return subscriptions.Fieldf("secret", "only a dcsa-tnt-2.2 source has a secret")
		}
		if err := checkSecret(*in.Secret); err != nil {
			return err
		}
		s.Secret = *in.Secret
	}
	return nil
}

// Check compiles the mapping. Returns a *subscriptions.FieldError for a
// mapping out of bounds, or a *subscriptions.Error of kind Malformed, code
// invalid_mapping, with the compiler's message (which names the position
// of a syntax error).
func (m MappingSpec) Check() error {
	if strings.TrimSpace(m.Program) == "" {
		return subscriptions.Fieldf("mapping.program", "is required: a jq program that makes a canonical event of a payload")
	}
	if len(m.Program) > 64<<10 {
		return subscriptions.Fieldf("mapping.program", "must be at most 64 KiB")
	}
	_, err := m.compile()
	return err
}

// compile returns the compiled mapping, or the error Check documents.
func (m MappingSpec) compile() (*Mapping, error) {
	c, err := CompileMapping(m.Program, m.Codes)
	if err == nil {
		return c, nil
	}
	out := &subscriptions.Error{Kind: subscriptions.Malformed, Code: "invalid_mapping", Message: err.Error(), Field: "mapping.program"}
	var fe *subscriptions.FieldError
	var de *subscriptions.Error
	switch {
	case errors.As(err, &fe):
		out.Message, out.Field = fe.Message, "mapping."+fe.Field
	case errors.As(err, &de):
		out.Message = de.Message
		if de.Field != "" {
			out.Field = "mapping." + de.Field
		}
	}
	return nil, out
}

// NewSecret returns a fresh DCSA secret: the base64 of 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.StdEncoding.EncodeToString(b)
}

func checkSecret(s string) error {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 16 || len(b) > 256 {
		return subscriptions.Fieldf("secret", "must be the base64 of 16 to 256 bytes, as a DCSA subscription's secret; leave it out to have one made")
	}
	return nil
}

// Key returns the bytes of a DCSA source's secret, the HMAC key of its
// notifications' signatures; nil if it has none.
func (s Source) Key() []byte {
	b, err := base64.StdEncoding.DecodeString(s.Secret)
	if err != nil {
		return nil
	}
	return b
}

// Translator turns a source's payload into items.
type Translator interface {
	// Translate splits body into items, each translated on its own (an
	// item that cannot be has its Err). Returns an error, and no items,
	// only for a body that cannot be read at all: not JSON, an empty
	// array, more than MaxItems items.
	Translate(ctx context.Context, body []byte) ([]Item, error)
}

// Translator returns the translator of s's format; a mapped source's
// mapping is compiled (with the errors of MappingSpec.Check).
func (s Source) Translator() (Translator, error) {
	switch s.Format {
	case FormatShiphook:
		return shiphookFormat{}, nil
	case FormatDCSA:
		return dcsaFormat{}, nil
	case FormatMapped:
		if s.Mapping == nil {
			return nil, subscriptions.Fieldf("mapping", "the source has no mapping; set one with PATCH /v1/sources/%s", s.ID)
		}
		return s.Mapping.compile()
	}
	return nil, subscriptions.Fieldf("format", "unknown format %q", s.Format)
}

// dcsaFormat translates DCSA Track & Trace 2.2 notifications.
type dcsaFormat struct{}

func (dcsaFormat) Translate(_ context.Context, body []byte) ([]Item, error) {
	return TranslateDCSA(body)
}
