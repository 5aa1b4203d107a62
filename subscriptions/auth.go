package subscriptions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// keyPrefix starts every API key, so that a leaked key is easy to spot.
const keyPrefix = "shk_"

// NewKey returns a fresh random API key: "shk_" and 43 base64url characters
// (32 random bytes).
func NewKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashKey returns the hex SHA-256 of key, the only form in which keys are
// stored. Keys are 256 random bits, so a fast hash is enough.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Principal is who made a request.
type Principal struct {
	KeyID     string
	Role      Role
	PartnerID string // set for RolePartner
	// SourceID, set for an ingest key bound to a source, is the one
	// source it may post to.
	SourceID string
}

// SeesPartner reports whether p may see partner id's resources.
func (p Principal) SeesPartner(id string) bool {
	return p.Role == RoleAdmin || (p.Role == RolePartner && p.PartnerID == id)
}

// Auth checks API keys. Known keys are cached for CacheFor, so a deleted key
// keeps working on an instance for at most that long.
type Auth struct {
	store Store
	// CacheFor is how long a key found in the store is trusted without
	// asking again (default 10 s).
	CacheFor time.Duration

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key     APIKey
	expires time.Time
}

// NewAuth returns an Auth over st.
func NewAuth(st Store) *Auth {
	return &Auth{store: st, CacheFor: 10 * time.Second, cache: map[string]cachedKey{}}
}

// Principal returns who holds key. Returns ErrNotFound if key is not a
// valid API key.
func (a *Auth) Principal(ctx context.Context, key string) (Principal, error) {
	k, err := a.lookup(ctx, key)
	if err != nil {
		return Principal{}, err
	}
	return Principal{KeyID: k.ID, Role: k.Role, PartnerID: k.PartnerID, SourceID: k.SourceID}, nil
}

func (a *Auth) lookup(ctx context.Context, key string) (APIKey, error) {
	hash := HashKey(key)
	now := time.Now()
	a.mu.Lock()
	ck, ok := a.cache[hash]
	a.mu.Unlock()
	if ok && now.Before(ck.expires) {
		return ck.key, nil
	}
	k, err := a.store.APIKeyByHash(ctx, hash)
	if err != nil {
		return APIKey{}, err
	}
	a.mu.Lock()
	if len(a.cache) > 10000 {
		clear(a.cache)
	}
	a.cache[hash] = cachedKey{key: k, expires: now.Add(a.CacheFor)}
	a.mu.Unlock()
	return k, nil
}

// EnsureAdminKey makes sure an admin can sign in. With envKey set, that key
// is stored (once) as an admin key. Otherwise, if no admin key exists, a
// new one is made and returned so that the caller can print it once; the
// returned key is empty when nothing was made.
func EnsureAdminKey(ctx context.Context, st Store, envKey string) (string, error) {
	if envKey != "" {
		hash := HashKey(envKey)
		_, err := st.APIKeyByHash(ctx, hash)
		if err == nil {
			return "", nil
		}
		if !errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("look up admin key: %w", err)
		}
		k := APIKey{ID: NewID("key"), Role: RoleAdmin, Name: "SHIPHOOK_ADMIN_KEY", Hash: hash, CreatedAt: time.Now().UTC()}
		if err := st.CreateAPIKey(ctx, k); err != nil && !errors.Is(err, ErrConflict) {
			return "", fmt.Errorf("store admin key: %w", err)
		}
		return "", nil
	}
	n, err := st.CountAPIKeys(ctx, RoleAdmin)
	if err != nil {
		return "", fmt.Errorf("count admin keys: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	key := NewKey()
	k := APIKey{ID: NewID("key"), Role: RoleAdmin, Name: "first admin key", Hash: HashKey(key), CreatedAt: time.Now().UTC()}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		return "", fmt.Errorf("store admin key: %w", err)
	}
	return key, nil
}
