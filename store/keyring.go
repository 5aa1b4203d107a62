package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrCannotOpen is wrapped by the error of reading a sealed value that no
// configured key opens.
var ErrCannotOpen = errors.New("cannot open a sealed value")

// KeyForm names the form of an encryption key, for error messages and
// help texts.
const KeyForm = `the base64 of 32 random bytes (make one with "shiphook gen-encryption-key" or "openssl rand -base64 32")`

// sealedPrefix starts every sealed value: "enc:v1:<key id>:<base64 of nonce
// and ciphertext>". A value without it was stored before encryption
// existed, and is read as it is.
const sealedPrefix = "enc:v1:"

// Keyring seals and opens the endpoint values that the database keeps
// secret (signing secrets, custom header values) with AES-256-GCM. Its
// first key seals; every key opens, so that a value sealed by an older key
// is still read while keys are rotated. A sealed value names its key by
// the key's id, so opening needs no trial. It is safe for concurrent use.
type Keyring struct {
	keys []sealKey
}

// sealKey is one AES-256-GCM key and its id.
type sealKey struct {
	id   string
	aead cipher.AEAD
}

// ParseKeyring reads a comma-separated list of keys, each the standard or
// URL-safe base64 of 32 bytes; the first seals. Errors name the key at
// fault by its place, never its value.
func ParseKeyring(list string) (*Keyring, error) {
	parts := strings.Split(list, ",")
	k := &Keyring{}
	for i, p := range parts {
		raw, err := decodeKey(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("key %d of %d: not %s", i+1, len(parts), KeyForm)
		}
		key, err := newSealKey(raw)
		if err != nil {
			return nil, err
		}
		for j, other := range k.keys {
			if other.id == key.id {
				return nil, fmt.Errorf("key %d of %d repeats key %d", i+1, len(parts), j+1)
			}
		}
		k.keys = append(k.keys, key)
	}
	return k, nil
}

// decodeKey decodes a key of 32 bytes in base64, padded or not, standard
// or URL-safe.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil && len(raw) == 32 {
			return raw, nil
		}
	}
	return nil, errors.New("not a key")
}

func newSealKey(raw []byte) (sealKey, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return sealKey{}, fmt.Errorf("encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealKey{}, fmt.Errorf("encryption key: %w", err)
	}
	return sealKey{id: keyID(raw), aead: aead}, nil
}

// keyID names a key in the values it seals: 8 hex digits of a hash of
// the key, which tell keys apart and reveal nothing of them.
func keyID(raw []byte) string {
	sum := sha256.Sum256(append([]byte("shiphook encryption key id\x00"), raw...))
	return hex.EncodeToString(sum[:4])
}

// NewEncryptionKey returns a new random key, in the form ParseKeyring
// reads.
func NewEncryptionKey() string {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // never fails (crypto/rand)
	return base64.StdEncoding.EncodeToString(raw)
}

// IDs returns the ids of the keys, the sealing key first.
func (k *Keyring) IDs() []string {
	if k == nil {
		return nil
	}
	ids := make([]string, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.id
	}
	return ids
}

// seal returns plain sealed by the first key, bound to where (the
// endpoint and field it belongs to): a sealed value copied elsewhere does
// not open. An empty value, and every value when k is nil, is returned as
// it is.
func (k *Keyring) seal(plain, where string) string {
	if k == nil || plain == "" {
		return plain
	}
	key := k.keys[0]
	nonce := make([]byte, key.aead.NonceSize(), key.aead.NonceSize()+len(plain)+key.aead.Overhead())
	_, _ = rand.Read(nonce) // never fails (crypto/rand)
	sealed := key.aead.Seal(nonce, nonce, []byte(plain), []byte(where))
	return sealedPrefix + key.id + ":" + base64.RawStdEncoding.EncodeToString(sealed)
}

// open returns the plain value of stored, a value that seal returned for
// where, or one stored before encryption existed (returned as it is).
// Returns an error saying which key sealed it when no key of k opens it.
func (k *Keyring) open(stored, where string) (string, error) {
	rest, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	id, data, ok := strings.Cut(rest, ":")
	raw, err := base64.RawStdEncoding.DecodeString(data)
	if !ok || err != nil {
		return "", fmt.Errorf("%w: it is damaged", ErrCannotOpen)
	}
	key, ok := k.key(id)
	if !ok {
		return "", fmt.Errorf("%w: encryption key %s sealed it, and is not configured (configured: %s)", ErrCannotOpen, id, k.describe())
	}
	n := key.aead.NonceSize()
	if len(raw) < n {
		return "", fmt.Errorf("%w: it is damaged", ErrCannotOpen)
	}
	plain, err := key.aead.Open(nil, raw[:n], raw[n:], []byte(where))
	if err != nil {
		return "", fmt.Errorf("%w: encryption key %s sealed it, but it does not open: it was altered, or moved from another endpoint or field", ErrCannotOpen, id)
	}
	return string(plain), nil
}

// current reports whether stored needs no resealing: empty, or sealed by
// the first key. A nil keyring seals nothing, and needs nothing.
func (k *Keyring) current(stored string) bool {
	if k == nil || stored == "" {
		return true
	}
	return strings.HasPrefix(stored, sealedPrefix+k.keys[0].id+":")
}

func (k *Keyring) key(id string) (sealKey, bool) {
	if k != nil {
		for _, key := range k.keys {
			if key.id == id {
				return key, true
			}
		}
	}
	return sealKey{}, false
}

// describe lists the ids of k's keys, for errors.
func (k *Keyring) describe() string {
	if k == nil || len(k.keys) == 0 {
		return "none"
	}
	return strings.Join(k.IDs(), ", ")
}
