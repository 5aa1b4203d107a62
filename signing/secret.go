package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Key prefixes of the Standard Webhooks specification.
const (
	secretPrefix     = "whsec_" // symmetric secret, scheme v1 (HMAC-SHA256)
	privateKeyPrefix = "whsk_"  // ed25519 private key, scheme v1a
	publicKeyPrefix  = "whpk_"  // ed25519 public key, scheme v1a
)

// Bounds on the decoded length of a whsec_ secret (Standard Webhooks).
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

// newSecretBytes is how many random bytes NewSecret draws.
const newSecretBytes = 32

var b64 = base64.StdEncoding

// NewSecret returns a new symmetric signing secret for the v1 scheme:
// "whsec_" followed by the standard base64 encoding (with padding) of 32
// bytes from crypto/rand. It never fails: crypto/rand aborts the program if
// the operating system cannot supply randomness.
func NewSecret() string {
	var key [newSecretBytes]byte
	_, _ = rand.Read(key[:])
	return secretPrefix + b64.EncodeToString(key[:])
}

// NewKeyPair returns a new ed25519 key pair for the v1a scheme. secret is
// "whsk_" followed by the standard base64 encoding of the 64-byte private
// key (the 32-byte seed followed by the 32-byte public key, the layout of
// crypto/ed25519 and libsodium); it signs, so keep it like a whsec_ secret.
// public is "whpk_" followed by the standard base64 encoding of the 32-byte
// public key; receivers verify with it and it need not be kept secret.
//
// Sign also accepts a whsk_ secret that holds only the 32-byte seed.
func NewKeyPair() (secret, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("signing: generate ed25519 key: %w", err)
	}
	return privateKeyPrefix + b64.EncodeToString(priv), publicKeyPrefix + b64.EncodeToString(pub), nil
}

// ValidSecret checks a whsec_ secret that an operator supplies: it must
// start with "whsec_" and the rest must be standard base64 that decodes to
// 24 to 64 bytes. The error says what is wrong without repeating the secret.
func ValidSecret(s string) error {
	enc, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return errors.New("secret must start with " + secretPrefix)
	}
	key, err := b64.DecodeString(enc)
	if err != nil {
		return errors.New("secret must be standard base64 (with padding) after " + secretPrefix)
	}
	if n := len(key); n < minSecretBytes || n > maxSecretBytes {
		return fmt.Errorf("secret must decode to %d to %d bytes, got %d", minSecretBytes, maxSecretBytes, n)
	}
	return nil
}

// NewKey returns a new signing secret of scheme: a whsec_ secret
// (NewSecret) for V1, a whsk_ private key (the secret of NewKeyPair) for
// V1a. Returns an error for any other scheme.
func NewKey(scheme Scheme) (string, error) {
	switch scheme {
	case V1:
		return NewSecret(), nil
	case V1a:
		secret, _, err := NewKeyPair()
		return secret, err
	default:
		return "", fmt.Errorf("signing: unknown scheme %q", scheme)
	}
}

// SchemeOf returns the scheme that secret signs with, as Sign reads it: V1a
// for a "whsk_" private key, V1 for anything else.
func SchemeOf(secret string) Scheme {
	if strings.HasPrefix(secret, privateKeyPrefix) {
		return V1a
	}
	return V1
}

// ValidSigningKey checks a key that an operator supplies to sign with: a
// whsec_ secret as ValidSecret accepts it, or a whsk_ private key (the
// standard base64, with padding, of a 32-byte ed25519 seed or of a 64-byte
// private key whose public half belongs to its seed). A whpk_ public key,
// which cannot sign, is refused with an error that says so. The error says
// what is wrong without repeating the key.
func ValidSigningKey(s string) error {
	switch {
	case strings.HasPrefix(s, privateKeyPrefix):
		_, err := privateKey(s[len(privateKeyPrefix):])
		return err
	case strings.HasPrefix(s, publicKeyPrefix):
		return errors.New("a whpk_ public key cannot sign: give the whsk_ private key, or none and one is made")
	case strings.HasPrefix(s, secretPrefix):
		return ValidSecret(s)
	default:
		return errors.New("secret must start with " + secretPrefix + " (scheme v1) or " + privateKeyPrefix + " (scheme v1a)")
	}
}

// ValidVerifyingKey checks a key that a receiver verifies with: a whsec_
// secret as ValidSecret accepts it, or a whpk_ public key (the standard
// base64 of a 32-byte ed25519 public key). A whsk_ private key, which has
// no place at a receiver, is refused. The error does not repeat the key.
func ValidVerifyingKey(s string) error {
	switch {
	case strings.HasPrefix(s, publicKeyPrefix):
		_, err := publicKey(s[len(publicKeyPrefix):])
		return err
	case strings.HasPrefix(s, privateKeyPrefix):
		return errPrivVerify
	default:
		return ValidSecret(s)
	}
}

// PublicKeyOf returns the whpk_ public key that verifies what the whsk_
// private key secret signs. Returns an error, which does not repeat the
// key, if secret is not a well-formed whsk_ key.
func PublicKeyOf(secret string) (string, error) {
	enc, ok := strings.CutPrefix(secret, privateKeyPrefix)
	if !ok {
		return "", errors.New("signing: not a " + privateKeyPrefix + " private key")
	}
	priv, err := privateKey(enc)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return publicKeyPrefix + b64.EncodeToString(priv.Public().(ed25519.PublicKey)), nil
}

var (
	errNoSecret    = errors.New("no secret given")
	errEmptySecret = errors.New("secret is empty")
	errBase64      = errors.New("secret is not standard base64")
	errPublicSign  = errors.New("a whpk_ public key cannot sign; use its whsk_ secret key")
	errPrivVerify  = errors.New("verify with the whpk_ public key, not the whsk_ secret key")
	errSeedLen     = errors.New("whsk_ key must decode to a 32-byte seed or a 64-byte private key")
	errSeedPublic  = errors.New("whsk_ key's public half does not belong to its seed")
	errPublicLen   = errors.New("whpk_ key must decode to a 32-byte ed25519 public key")
)

// decodeKey decodes the base64 text of a key into buf when it fits, so that
// short keys cost no allocation. An empty key is an error.
func decodeKey(enc string, buf []byte) ([]byte, error) {
	if enc == "" {
		return nil, errEmptySecret
	}
	if b64.DecodedLen(len(enc)) > len(buf) {
		buf = make([]byte, b64.DecodedLen(len(enc)))
	}
	n, err := b64.Decode(buf, []byte(enc))
	if err != nil {
		return nil, errBase64
	}
	return buf[:n], nil
}

// privateKey turns the base64 text after "whsk_" into an ed25519 private
// key. A 64-byte key must carry the public key of its own seed: signing
// with a mismatched public half would yield signatures nobody can verify
// and can leak the private key.
func privateKey(enc string) (ed25519.PrivateKey, error) {
	var buf [ed25519.PrivateKeySize + 3]byte
	raw, err := decodeKey(enc, buf[:])
	if err != nil {
		return nil, err
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if subtle.ConstantTimeCompare(priv[ed25519.SeedSize:], raw[ed25519.SeedSize:]) != 1 {
			return nil, errSeedPublic
		}
		return priv, nil
	default:
		return nil, errSeedLen
	}
}

// publicKey turns the base64 text after "whpk_" into an ed25519 public key.
func publicKey(enc string) (ed25519.PublicKey, error) {
	raw, err := b64.DecodeString(enc)
	if err != nil {
		return nil, errBase64
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, errPublicLen
	}
	return raw, nil
}

// SecretKey returns the key bytes of a whsec_ secret: what the v1 scheme
// keys its HMAC with, and what a DCSA Notification-Signature is keyed
// with when shiphook delivers in DCSA form. Returns an error, without
// repeating the secret, for anything but a whsec_ secret in standard
// base64.
func SecretKey(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New("secret must start with " + secretPrefix)
	}
	key, err := b64.DecodeString(enc)
	if err != nil || len(key) == 0 {
		return nil, errors.New("secret must be standard base64 (with padding) after " + secretPrefix)
	}
	return key, nil
}
