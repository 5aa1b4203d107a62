// Package signing signs and verifies webhooks the Standard Webhooks way.
//
// A delivery carries three headers: webhook-id (the message id, stable
// across retries), webhook-timestamp (unix seconds) and webhook-signature.
// The signed content is "<webhook-id>.<webhook-timestamp>.<body>". The
// signature header holds one or more space-separated "<scheme>,<base64>"
// entries: scheme v1 is HMAC-SHA256 under a symmetric whsec_ secret, scheme
// v1a is ed25519 under a whsk_ private key, verified with its whpk_ public
// key. During secret rotation a delivery is signed with the old and the new
// secret at once, and a receiver accepts it if any one entry verifies.
package signing

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a webhook-timestamp may lie from the
// receiver's clock, either way, before Verify rejects the delivery.
const DefaultTolerance = 5 * time.Minute

// Header names of the Standard Webhooks specification.
const (
	headerID        = "webhook-id"
	headerTimestamp = "webhook-timestamp"
	headerSignature = "webhook-signature"
)

// Scheme is a Standard Webhooks signature scheme: the name before the
// comma of each webhook-signature entry.
type Scheme string

const (
	// V1 is HMAC-SHA256 under a symmetric whsec_ secret, which the sender
	// and the receiver share.
	V1 Scheme = "v1"
	// V1a is ed25519: the sender signs with a whsk_ private key, which it
	// alone holds, and receivers verify with its whpk_ public key.
	V1a Scheme = "v1a"
)

const (
	schemeHMAC    = string(V1)
	schemeEd25519 = string(V1a)
)

// Lengths of the padded base64 encodings of a v1 and a v1a signature.
const (
	hmacSigLen    = (sha256.Size + 2) / 3 * 4           // 44
	ed25519SigLen = (ed25519.SignatureSize + 2) / 3 * 4 // 88
)

var (
	// ErrMissingHeaders is returned by Verify when webhook-id,
	// webhook-timestamp or webhook-signature is absent or empty.
	ErrMissingHeaders = errors.New("signing: missing webhook-id, webhook-timestamp or webhook-signature header")
	// ErrTimestamp is returned by Verify when webhook-timestamp is not unix
	// seconds or lies further than the tolerance from the receiver's clock.
	ErrTimestamp = errors.New("signing: webhook-timestamp outside the tolerance")
	// ErrSignature is returned by Verify when no signature in
	// webhook-signature verifies under any of the given keys.
	ErrSignature = errors.New("signing: no matching signature")
)

// Sign returns the value of the webhook-signature header for a message with
// id msgID, sent at ts (truncated to whole seconds; send the same ts as
// webhook-timestamp), carrying body. It holds one signature per secret,
// space separated, in the order the secrets are given:
//
//   - a "whsec_" secret, or a prefix-less one taken as raw base64 as the
//     Standard Webhooks libraries do, yields "v1,<base64 HMAC-SHA256>";
//   - a "whsk_" private key (64-byte key or 32-byte seed) yields
//     "v1a,<base64 ed25519 signature>".
//
// Returns an error, which names the secret by position but never repeats
// it, if no secret is given or one is empty, not base64, a "whpk_" public
// key, or a malformed "whsk_" key.
func Sign(msgID string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("signing: %w", errNoSecret)
	}
	size := len(secrets) - 1
	for _, s := range secrets {
		if strings.HasPrefix(s, privateKeyPrefix) {
			size += len(schemeEd25519) + 1 + ed25519SigLen
		} else {
			size += len(schemeHMAC) + 1 + hmacSigLen
		}
	}
	var sb strings.Builder
	sb.Grow(size)

	var prefixBuf [128]byte
	prefix := signedPrefix(prefixBuf[:0], msgID, ts.Unix())
	var msg []byte // prefix + body, built once if a v1a key needs it
	for i, s := range secrets {
		if i > 0 {
			sb.WriteByte(' ')
		}
		var sig [ed25519SigLen]byte // fits either encoding
		switch {
		case strings.HasPrefix(s, privateKeyPrefix):
			priv, err := privateKey(s[len(privateKeyPrefix):])
			if err != nil {
				return "", fmt.Errorf("signing: secret %d: %w", i, err)
			}
			if msg == nil {
				msg = append(append(make([]byte, 0, len(prefix)+len(body)), prefix...), body...)
			}
			b64.Encode(sig[:], ed25519.Sign(priv, msg))
			sb.WriteString(schemeEd25519)
			sb.WriteByte(',')
			sb.Write(sig[:ed25519SigLen])
		case strings.HasPrefix(s, publicKeyPrefix):
			return "", fmt.Errorf("signing: secret %d: %w", i, errPublicSign)
		default:
			var keyBuf [96]byte
			key, err := decodeKey(strings.TrimPrefix(s, secretPrefix), keyBuf[:])
			if err != nil {
				return "", fmt.Errorf("signing: secret %d: %w", i, err)
			}
			mac := hmacSHA256(key, prefix, body)
			b64.Encode(sig[:], mac[:])
			sb.WriteString(schemeHMAC)
			sb.WriteByte(',')
			sb.Write(sig[:hmacSigLen])
		}
	}
	return sb.String(), nil
}

// Verify checks a delivery the way a receiver does. It reads webhook-id,
// webhook-timestamp and webhook-signature from h and returns nil if the
// timestamp lies within tolerance of now (either way) and at least one
// signature in the header verifies under at least one of secrets: a
// "whsec_" secret (or a prefix-less raw base64 one) checks v1 entries, a
// "whpk_" public key checks v1a entries; entries of other schemes are
// ignored. A tolerance of zero or less means DefaultTolerance. Signatures
// are compared in constant time.
//
// Returns an error wrapping ErrMissingHeaders if a header is absent or
// empty, ErrTimestamp if the timestamp is not unix seconds or is out of
// tolerance, ErrSignature if nothing matches, and a plain error if no
// secret is given or one is malformed (including a "whsk_" private key,
// which has no place at a receiver).
func Verify(body []byte, h http.Header, now time.Time, tolerance time.Duration, secrets ...string) error {
	msgID := h.Get(headerID)
	tsText := h.Get(headerTimestamp)
	sigs := h.Get(headerSignature)
	if msgID == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	if len(secrets) == 0 {
		return fmt.Errorf("signing: %w", errNoSecret)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	unix, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not unix seconds", ErrTimestamp, tsText)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance {
		return fmt.Errorf("%w: sent %s ago, more than %s", ErrTimestamp, d.Truncate(time.Second), tolerance)
	} else if d < -tolerance {
		return fmt.Errorf("%w: sent %s in the future, more than %s", ErrTimestamp, (-d).Truncate(time.Second), tolerance)
	}

	var prefixBuf [128]byte
	prefix := signedPrefix(prefixBuf[:0], msgID, unix)
	var msg []byte // prefix + body, built once if a v1a key needs it
	for i, s := range secrets {
		switch {
		case strings.HasPrefix(s, publicKeyPrefix):
			pub, err := publicKey(s[len(publicKeyPrefix):])
			if err != nil {
				return fmt.Errorf("signing: secret %d: %w", i, err)
			}
			if msg == nil {
				msg = append(append(make([]byte, 0, len(prefix)+len(body)), prefix...), body...)
			}
			for entry := range strings.FieldsSeq(sigs) {
				scheme, text, _ := strings.Cut(entry, ",")
				if scheme != schemeEd25519 || len(text) != ed25519SigLen {
					continue
				}
				var sig [ed25519.SignatureSize + 2]byte
				n, err := b64.Decode(sig[:], []byte(text))
				if err == nil && n == ed25519.SignatureSize && ed25519.Verify(pub, msg, sig[:n]) {
					return nil
				}
			}
		case strings.HasPrefix(s, privateKeyPrefix):
			return fmt.Errorf("signing: secret %d: %w", i, errPrivVerify)
		default:
			var keyBuf [96]byte
			key, err := decodeKey(strings.TrimPrefix(s, secretPrefix), keyBuf[:])
			if err != nil {
				return fmt.Errorf("signing: secret %d: %w", i, err)
			}
			mac := hmacSHA256(key, prefix, body)
			var want [hmacSigLen]byte
			b64.Encode(want[:], mac[:])
			for entry := range strings.FieldsSeq(sigs) {
				scheme, text, _ := strings.Cut(entry, ",")
				if scheme == schemeHMAC && hmac.Equal([]byte(text), want[:]) {
					return nil
				}
			}
		}
	}
	return ErrSignature
}

// signedPrefix appends "<msgID>.<unix>." to dst: the signed content up to
// the body.
func signedPrefix(dst []byte, msgID string, unix int64) []byte {
	dst = append(dst, msgID...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, unix, 10)
	return append(dst, '.')
}

// hmacSHA256 returns HMAC-SHA256 under key of prefix followed by body,
// hashing the two parts without joining them.
func hmacSHA256(key, prefix, body []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	m.Write(prefix)
	m.Write(body)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}
