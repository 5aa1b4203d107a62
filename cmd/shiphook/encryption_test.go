package main

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// headerToken is the value of the custom header the tests' endpoints send:
// long enough for its mask to show its last 4 characters.
const headerToken = "tok-0123456789-secret-value"

type sealedEndpointOut struct {
	ID        string            `json:"id"`
	Secret    string            `json:"secret"`
	PublicKey string            `json:"public_key"`
	Headers   map[string]string `json:"headers"`
}

// createSealedEndpoint creates an endpoint of acme at the receiver's path
// with a custom header, signing with scheme (v1 or v1a), checks that the
// answer shows the header in full, and tells the receiver what verifies
// its deliveries: the secret (v1) or the public key (v1a).
func createSealedEndpoint(t *testing.T, s *server, rcv *receiver, path, scheme string) sealedEndpointOut {
	t.Helper()
	var ep sealedEndpointOut
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners/acme/endpoints", adminKey,
		map[string]any{"url": rcv.URL + path, "signature_scheme": scheme, "headers": map[string]string{"X-Partner-Token": headerToken}}, &ep))
	require.Equal(t, map[string]string{"X-Partner-Token": headerToken}, ep.Headers, "the create answer shows the headers once")
	if scheme == "v1a" {
		require.True(t, strings.HasPrefix(ep.PublicKey, "whpk_"), ep.PublicKey)
		rcv.setSecret(path, ep.PublicKey)
		return ep
	}
	require.True(t, strings.HasPrefix(ep.Secret, "whsec_"), ep.Secret)
	rcv.setSecret(path, ep.Secret)
	return ep
}

// requireDelivered posts one event for acme and waits for it at each of
// paths, signed with the endpoint's key and carrying its custom header.
func requireDelivered(t *testing.T, s *server, rcv *receiver, paths ...string) {
	t.Helper()
	before := map[string]int{}
	for _, path := range paths {
		before[path] = len(rcv.byPath(path))
	}
	postEvents(t, s, 1)
	for _, path := range paths {
		require.Eventually(t, func() bool { return len(rcv.byPath(path)) == before[path]+1 }, 15*time.Second, 20*time.Millisecond,
			"no delivery at %s", path)
		require.Equal(t, headerToken, rcv.headersOf(path).Get("X-Partner-Token"))
	}
	require.Empty(t, rcv.invalidSignatures(), "every delivery verifies with the endpoint's key")
}

// rawEndpoint returns the secret, previous_secret and options columns of
// endpoint id as the database at databaseURL holds them.
func rawEndpoint(t *testing.T, databaseURL, id string) string {
	t.Helper()
	driver, dsn, query := "pgx", databaseURL, `SELECT secret || ' ' || previous_secret || ' ' || options FROM endpoints WHERE id = $1`
	if path, ok := store.SQLiteFile(databaseURL); ok {
		driver, dsn = "sqlite", path
	}
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	defer db.Close()
	var raw string
	require.NoError(t, db.QueryRowContext(t.Context(), query, id).Scan(&raw))
	return raw
}

// requireSealed checks that the columns of endpoint ep hold neither its
// signing key (a whsec_ secret or a whsk_ private key) nor its header
// value, and are sealed by the key with id keyID.
func requireSealed(t *testing.T, databaseURL string, ep sealedEndpointOut, keyID string) {
	t.Helper()
	raw := rawEndpoint(t, databaseURL, ep.ID)
	if ep.Secret != "" {
		require.NotContains(t, raw, strings.TrimPrefix(ep.Secret, "whsec_"))
	}
	require.NotContains(t, raw, "whsec_")
	require.NotContains(t, raw, "whsk_")
	require.NotContains(t, raw, headerToken)
	require.Equal(t, 2, strings.Count(raw, "enc:v1:"+keyID+":"), "secret and header sealed by key %s: %s", keyID, raw)
}

// requireMasked checks that every read of the endpoint after its creation
// shows its header value masked, and that a PATCH giving the headers back
// as shown keeps the value.
func requireMasked(t *testing.T, s *server, ep sealedEndpointOut) {
	t.Helper()
	const masked = "••••••alue"
	url := s.URL + "/v1/partners/acme/endpoints/" + ep.ID
	var got sealedEndpointOut
	require.Equal(t, http.StatusOK, call(t, "GET", url, adminKey, nil, &got))
	require.Equal(t, map[string]string{"X-Partner-Token": masked}, got.Headers)
	require.Empty(t, got.Secret)
	var list listOut[sealedEndpointOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/acme/endpoints", adminKey, nil, &list))
	for _, e := range list.Data {
		require.Equal(t, map[string]string{"X-Partner-Token": masked}, e.Headers)
	}
	require.Equal(t, http.StatusOK, call(t, "PATCH", url, adminKey,
		map[string]any{"description": "edited", "headers": got.Headers}, &got))
	require.Equal(t, map[string]string{"X-Partner-Token": masked}, got.Headers)
}

// TestEncryptionAtRest checks, on PostgreSQL with serve and with api and
// worker processes, and on the embedded SQLite, that endpoint secrets and
// header values are encrypted in the database, that deliveries are signed
// with the secret and carry the header, and that the API shows the header
// values masked after creation.
func TestEncryptionAtRest(t *testing.T) {
	for _, shape := range []string{"serve", "api and worker", "embedded"} {
		t.Run(shape, func(t *testing.T) {
			env := testEnv(t)
			if shape == "embedded" {
				t.Chdir(t.TempDir())
				env = with(embeddedEnv(), "SHIPHOOK_ADMIN_KEY", adminKey)
			}
			var s *server
			switch shape {
			case "serve":
				migrate(t, env)
				s = startServer(t, "serve", env)
			case "api and worker":
				s = startSplit(t, env)
			case "embedded":
				s = startServer(t, "serve", env)
			}
			dbURL, keys := env["DATABASE_URL"], env["SHIPHOOK_ENCRYPTION_KEY"]
			if shape == "embedded" {
				dbURL = defaultDatabaseURL
				info, err := os.Stat("shiphook-data/" + keyFileName)
				require.NoError(t, err, "the embedded default makes its key beside the database")
				require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
				b, err := os.ReadFile("shiphook-data/" + keyFileName)
				require.NoError(t, err)
				keys = strings.TrimSpace(string(b))
			}
			keyID := keyIDOf(t, keys)
			createPartners(t, s, "acme", "globex")
			rcv := newReceiver(t)
			v1 := createSealedEndpoint(t, s, rcv, "/sealed", "v1")
			v1a := createSealedEndpoint(t, s, rcv, "/sealed-v1a", "v1a")
			for _, ep := range []sealedEndpointOut{v1, v1a} {
				requireSealed(t, dbURL, ep, keyID)
			}
			requireDelivered(t, s, rcv, "/sealed", "/sealed-v1a")
			requireMasked(t, s, v1)
			requireDelivered(t, s, rcv, "/sealed", "/sealed-v1a")
			requireSealed(t, dbURL, v1, keyID)

			if shape == "embedded" {
				// A second start keeps the key.
				s.stop()
				s = startServer(t, "serve", env)
				requireDelivered(t, s, rcv, "/sealed", "/sealed-v1a")
			}
		})
	}
}

func keyIDOf(t *testing.T, keys string) string {
	t.Helper()
	k, err := store.ParseKeyring(keys)
	require.NoError(t, err)
	return k.IDs()[0]
}

// runOnce runs shiphook with env and args until it returns, within 30 s,
// and returns its error and what it printed.
func runOnce(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out lockedBuffer
	err := run(ctx, args, func(k string) string { return env[k] }, &out, &out)
	require.NoError(t, ctx.Err(), "shiphook %s did not return\n%s", args[0], out.String())
	return out.String(), err
}

// TestEncryptionKeyRotation rotates the key of a PostgreSQL deployment of
// api and worker processes as the README says: restart them with the new
// key first and the old one after, run rotate-encryption-key, restart them
// with the new key alone. A process with only the old key then refuses to
// start, naming the endpoint it cannot read.
func TestEncryptionKeyRotation(t *testing.T) {
	env := testEnv(t)
	oldKey, newKey := env["SHIPHOOK_ENCRYPTION_KEY"], store.NewEncryptionKey()
	migrate(t, env)
	api, worker := startServer(t, "api", env), startServer(t, "worker", env)
	createPartners(t, api, "acme", "globex")
	rcv := newReceiver(t)
	ep := createSealedEndpoint(t, api, rcv, "/rotated", "v1")
	requireDelivered(t, api, rcv, "/rotated")
	requireSealed(t, env["DATABASE_URL"], ep, keyIDOf(t, oldKey))
	api.stop()
	worker.stop()

	rotating := with(env, "SHIPHOOK_ENCRYPTION_KEY", newKey+", "+oldKey)
	api, worker = startServer(t, "api", rotating), startServer(t, "worker", rotating)
	requireDelivered(t, api, rcv, "/rotated")
	out, err := runOnce(t, rotating, rotateCommand)
	require.NoError(t, err, out)
	require.Contains(t, out, "resealed 1 of 1 endpoints with encryption key "+keyIDOf(t, newKey))
	requireSealed(t, env["DATABASE_URL"], ep, keyIDOf(t, newKey))
	out, err = runOnce(t, rotating, rotateCommand)
	require.NoError(t, err, out)
	require.Contains(t, out, "resealed 0 of 1 endpoints", "a second run has nothing left to do")
	requireDelivered(t, api, rcv, "/rotated")
	api.stop()
	worker.stop()

	for _, cmd := range [][]string{{"api", "--addr", "127.0.0.1:0"}, {"worker", "--health-addr", "127.0.0.1:0"}, {"serve", "--addr", "127.0.0.1:0"}} {
		out, err := runOnce(t, env, cmd...)
		require.ErrorIs(t, err, store.ErrCannotOpen, out)
		require.ErrorContains(t, err, "endpoint "+ep.ID+" secret: cannot open a sealed value: encryption key "+
			keyIDOf(t, newKey)+" sealed it, and is not configured (configured: "+keyIDOf(t, oldKey)+")")
	}

	fresh := with(env, "SHIPHOOK_ENCRYPTION_KEY", newKey)
	api = startServer(t, "api", fresh)
	startServer(t, "worker", fresh)
	requireDelivered(t, api, rcv, "/rotated")
	requireMasked(t, api, ep)
	requireDelivered(t, api, rcv, "/rotated")
}

// TestEncryptionKeyFileRotation rotates the key of the embedded default,
// kept in shiphook-data/encryption.key.
func TestEncryptionKeyFileRotation(t *testing.T) {
	t.Chdir(t.TempDir())
	env := with(embeddedEnv(), "SHIPHOOK_ADMIN_KEY", adminKey)
	s := startServer(t, "serve", env)
	createPartners(t, s, "acme", "globex")
	rcv := newReceiver(t)
	ep := createSealedEndpoint(t, s, rcv, "/file", "v1a")
	s.stop()

	keyPath := "shiphook-data/" + keyFileName
	old, err := os.ReadFile(keyPath)
	require.NoError(t, err)
	newKey := store.NewEncryptionKey()
	require.NoError(t, os.WriteFile(keyPath, []byte(newKey+","+strings.TrimSpace(string(old))+"\n"), 0o600))
	out, err := runOnce(t, env, rotateCommand)
	require.NoError(t, err, out)
	require.Contains(t, out, "resealed 1 of 1 endpoints with encryption key "+keyIDOf(t, newKey))
	require.NoError(t, os.WriteFile(keyPath, []byte(newKey+"\n"), 0o600))
	requireSealed(t, defaultDatabaseURL, ep, keyIDOf(t, newKey))

	s = startServer(t, "serve", env)
	requireDelivered(t, s, rcv, "/file")
}

// TestEncryptionUpgrade starts shiphook, with a key, on a database whose
// endpoint was stored in plain text before encryption existed: it is
// read and delivered to, the start warns of it, and
// rotate-encryption-key encrypts it.
func TestEncryptionUpgrade(t *testing.T) {
	env := testEnv(t)
	migrate(t, env)
	ctx := t.Context()
	legacy, err := store.Open(ctx, env["DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(func() { legacy.Close() })
	now := time.Now().UTC()
	require.NoError(t, legacy.CreatePartner(ctx, subscriptions.Partner{ID: "acme", Name: "Acme", Access: subscriptions.AccessParty, CreatedAt: now, UpdatedAt: now}))
	require.NoError(t, legacy.CreatePartner(ctx, subscriptions.Partner{ID: "globex", Name: "Globex", Access: subscriptions.AccessParty, CreatedAt: now, UpdatedAt: now}))
	rcv := newReceiver(t)
	ep := subscriptions.Endpoint{ID: subscriptions.NewID("ep"), PartnerID: "acme", URL: rcv.URL + "/legacy",
		EventTypes: []string{}, Filter: subscriptions.Filter{}, Secret: signing.NewSecret(), CreatedAt: now, UpdatedAt: now}
	ep.Headers = subscriptions.Headers{"X-Partner-Token": headerToken}
	require.NoError(t, legacy.CreateEndpoint(ctx, ep))
	rcv.setSecret("/legacy", ep.Secret)
	require.Contains(t, rawEndpoint(t, env["DATABASE_URL"], ep.ID), ep.Secret, "stored as before encryption")

	s := startServer(t, "serve", env)
	requireDelivered(t, s, rcv, "/legacy")
	require.Contains(t, s.log.String(), "run shiphook rotate-encryption-key")
	s.stop()

	out, err := runOnce(t, env, rotateCommand)
	require.NoError(t, err, out)
	require.Contains(t, out, "resealed 1 of 1 endpoints")
	requireSealed(t, env["DATABASE_URL"], sealedEndpointOut{ID: ep.ID, Secret: ep.Secret}, keyIDOf(t, env["SHIPHOOK_ENCRYPTION_KEY"]))

	s = startServer(t, "serve", env)
	requireDelivered(t, s, rcv, "/legacy")
	require.NotContains(t, s.log.String(), "run shiphook rotate-encryption-key")
}

// TestEncryptionKeyRequired checks that PostgreSQL needs a key, and that a
// key that does not parse is refused, saying what form it must take.
func TestEncryptionKeyRequired(t *testing.T) {
	env := testEnv(t)
	delete(env, "SHIPHOOK_ENCRYPTION_KEY")
	migrate(t, env)
	for _, cmd := range [][]string{{"serve"}, {"api"}, {"worker"}, {rotateCommand}} {
		_, err := runOnce(t, env, cmd...)
		require.ErrorIs(t, err, errNoKey, cmd[0])
		require.ErrorContains(t, err, "shiphook gen-encryption-key")
	}
	for _, cmd := range []string{"serve", rotateCommand} {
		_, err := runOnce(t, with(env, "SHIPHOOK_ENCRYPTION_KEY", store.NewEncryptionKey()+",c2hvcnQ="), cmd)
		require.EqualError(t, err, "$SHIPHOOK_ENCRYPTION_KEY (or --encryption-key): key 2 of 2: not the base64 of 32 random bytes "+
			`(make one with "shiphook gen-encryption-key" or "openssl rand -base64 32")`)
	}
	out, err := runOnce(t, env, "gen-encryption-key")
	require.NoError(t, err)
	_, err = store.ParseKeyring(strings.TrimSpace(out))
	require.NoError(t, err, "gen-encryption-key prints a key that shiphook takes")
}
