package subscriptions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shiphook/shiphook/signing"
)

// DefaultSecretGrace is how long a rotated-out secret keeps signing.
const DefaultSecretGrace = 24 * time.Hour

// maxSecretGrace bounds the grace period a rotation may ask for.
const maxSecretGrace = 7 * 24 * time.Hour

// Scheme returns the signature scheme of e's current secret: signing.V1a
// for a whsk_ private key, signing.V1 for a whsec_ secret. It is not
// stored apart: it follows from the secret.
func (e Endpoint) Scheme() signing.Scheme { return signing.SchemeOf(e.Secret) }

// endpointFields is Endpoint without its methods, so that MarshalJSON can
// encode its fields.
type endpointFields Endpoint

// endpointJSON is an endpoint as the API shows it.
type endpointJSON struct {
	endpointFields
	SignatureScheme signing.Scheme `json:"signature_scheme"`
	// Format, Ordering, OnFailure and TraceContext are shown with their
	// defaults filled in.
	Format       string `json:"format"`
	Ordering     string `json:"ordering"`
	OnFailure    string `json:"on_failure"`
	TraceContext bool   `json:"trace_context"`
}

// shown returns e as the API shows it.
func shown(e Endpoint) endpointJSON {
	e.Kind = e.KindOrDefault()
	if e.EventTypes == nil {
		e.EventTypes = []string{} // every shipment type: shown as [], never null
	}
	j := endpointJSON{endpointFields: endpointFields(e), SignatureScheme: e.Scheme(),
		Format: e.Format, Ordering: OrderingNone, OnFailure: OnFailureSkip, TraceContext: e.TraceContext}
	if j.Format == "" {
		j.Format = FormatShiphook
	}
	if e.Ordered() {
		j.Ordering = OrderingShipment
	}
	if e.Blocks() {
		j.OnFailure = OnFailureBlock
	}
	return j
}

// MarshalJSON encodes e's fields, its signature_scheme, which follows
// from its secret, and its format, ordering and on_failure with their
// defaults. It never encodes a secret.
func (e Endpoint) MarshalJSON() ([]byte, error) {
	return marshalJSON(shown(e))
}

// marshalJSON encodes v without escaping <, > and &, as the API answers
// (gin's PureJSON); an encoder that escapes them still does.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Secrets is the answer to revealing or rotating an endpoint's secret:
// what its receivers verify deliveries with, key by key. A v1 key is shown
// as its whsec_ secret, which the receiver shares. A v1a key is shown only
// as its whpk_ public key: its whsk_ private key never leaves shiphook, to
// an admin or a partner, so that nobody else can sign a delivery.
type Secrets struct {
	SignatureScheme signing.Scheme `json:"signature_scheme"`
	Secret          string         `json:"secret,omitempty"`     // v1
	PublicKey       string         `json:"public_key,omitempty"` // v1a
	// The previous key, while its grace period lasts; its scheme may
	// differ from the current one's.
	PreviousSignatureScheme signing.Scheme `json:"previous_signature_scheme,omitempty"`
	PreviousSecret          string         `json:"previous_secret,omitempty"`     // v1
	PreviousPublicKey       string         `json:"previous_public_key,omitempty"` // v1a
	PreviousSecretExpiresAt *time.Time     `json:"previous_secret_expires_at,omitempty"`
}

// SecretsOf returns what verifies e's deliveries at now: its current key
// and, while its grace period lasts, the previous one. Returns an error
// only if a stored whsk_ key is malformed, which keys checked as they are
// saved never are.
func SecretsOf(e Endpoint, now time.Time) (Secrets, error) {
	var s Secrets
	var err error
	if s.SignatureScheme, s.Secret, s.PublicKey, err = verifier(e.Secret); err != nil {
		return Secrets{}, fmt.Errorf("endpoint %s: %w", e.ID, err)
	}
	if e.previousSigns(now) {
		if s.PreviousSignatureScheme, s.PreviousSecret, s.PreviousPublicKey, err = verifier(e.PreviousSecret); err != nil {
			return Secrets{}, fmt.Errorf("endpoint %s, previous secret: %w", e.ID, err)
		}
		s.PreviousSecretExpiresAt = e.PreviousSecretExpiresAt
	}
	return s, nil
}

// verifier returns the scheme of secret and what verifies what it signs:
// the secret itself for v1 (shared), its public key for v1a.
func verifier(secret string) (scheme signing.Scheme, shared, public string, err error) {
	scheme = signing.SchemeOf(secret)
	if scheme != signing.V1a {
		return scheme, secret, "", nil
	}
	public, err = signing.PublicKeyOf(secret)
	return scheme, "", public, err
}

// CreatedEndpoint is the answer to creating an endpoint: the endpoint,
// what its receivers verify deliveries with, as SecretsOf shows it (Secret
// for v1, PublicKey for v1a), and its custom header values in full, which
// every later answer masks.
type CreatedEndpoint struct {
	Endpoint
	Secret    string
	PublicKey string
}

// Created returns the answer to creating e.
func Created(e Endpoint) (CreatedEndpoint, error) {
	s, err := SecretsOf(e, e.CreatedAt)
	if err != nil {
		return CreatedEndpoint{}, err
	}
	return CreatedEndpoint{Endpoint: e, Secret: s.Secret, PublicKey: s.PublicKey}, nil
}

// MarshalJSON encodes the endpoint as Endpoint does, with secret (v1) or
// public_key (v1a), and its header values unmasked.
func (c CreatedEndpoint) MarshalJSON() ([]byte, error) {
	return marshalJSON(struct {
		endpointJSON
		Secret    string            `json:"secret,omitempty"`
		PublicKey string            `json:"public_key,omitempty"`
		Headers   map[string]string `json:"headers,omitempty"` // in full, where endpointJSON's are masked
	}{shown(c.Endpoint), c.Secret, c.PublicKey, c.Headers})
}

// RotateInput asks for a secret rotation.
type RotateInput struct {
	// SignatureScheme is the new key's scheme, v1 or v1a; left out, it is
	// the scheme of Secret when that is given, else the current one's. A
	// rotation may change the scheme: both keys sign during the grace
	// period, each in its own.
	SignatureScheme signing.Scheme `json:"signature_scheme"`
	// Secret is the new key, whsec_ or whsk_; made when empty.
	Secret string `json:"secret"`
	// GraceSeconds is how long the old secret keeps signing (default 86400).
	GraceSeconds *int64 `json:"grace_seconds"`
}

// Rotate gives e a new secret as of now, the old one signing beside it for
// the grace period; rotating again within the grace period drops the
// oldest secret. e is not stored. Returns a *FieldError for bad input.
func (in RotateInput) Rotate(e *Endpoint, now time.Time) error {
	secret, err := signingKey(in.SignatureScheme, in.Secret, e.Scheme())
	if err != nil {
		return err
	}
	grace := DefaultSecretGrace
	if in.GraceSeconds != nil {
		grace = time.Duration(*in.GraceSeconds) * time.Second
		if grace < 0 || grace > maxSecretGrace {
			return Fieldf("grace_seconds", "must be from 0 to %d (7 days)", int64(maxSecretGrace/time.Second))
		}
	}
	if e.Format == FormatDCSA && signing.SchemeOf(secret) != signing.V1 {
		return Fieldf("signature_scheme", "a %s endpoint signs with a whsec_ secret (v1): DCSA's Notification-Signature is an HMAC-SHA256 of the body, which a whsk_ key cannot make", FormatDCSA)
	}
	expires := now.Add(grace)
	e.PreviousSecret, e.PreviousSecretExpiresAt = e.Secret, &expires
	e.Secret = secret
	e.UpdatedAt = now
	return nil
}

// signingKey returns the key an endpoint is to sign with, from a request's
// signature_scheme and secret: secret when it is given, checked, and of
// scheme when that is given too; else a new key of scheme, or of fallback
// when scheme is empty. Returns a *FieldError naming signature_scheme or
// secret for bad input.
func signingKey(scheme signing.Scheme, secret string, fallback signing.Scheme) (string, error) {
	switch scheme {
	case "", signing.V1, signing.V1a:
	default:
		return "", Fieldf("signature_scheme", "must be v1 (HMAC-SHA256 under a whsec_ secret) or v1a (ed25519 under a whsk_ private key)")
	}
	if secret == "" {
		if scheme == "" {
			scheme = fallback
		}
		return signing.NewKey(scheme)
	}
	if err := signing.ValidSigningKey(secret); err != nil {
		return "", Fieldf("secret", "%v", err)
	}
	if got := signing.SchemeOf(secret); scheme != "" && got != scheme {
		return "", Fieldf("secret", "is a key of scheme %s, but signature_scheme is %s", got, scheme)
	}
	return secret, nil
}
