package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/shiphook/shiphook/internal/harness"
)

// Passes: the same scenarios against real servers and on the embedded
// defaults.
const (
	passPostgres = "postgres"
	passEmbedded = "embedded"
)

// passTitle names a pass in the report.
var passTitle = map[string]string{
	passPostgres: "PostgreSQL + Redis",
	passEmbedded: "embedded (SQLite + in-process Redis)",
}

// pass is one shiphook process and the servers it uses, for one pass.
type pass struct {
	name    string
	dir     string // shiphook's working directory, removed afterwards
	env     []string
	api     *harness.Client
	proc    *harness.Process
	logPath string
	meter   cpuMeter

	// versions of the servers, for the report; empty when embedded.
	postgresVersion, redisVersion string
	// stats is a connection to the bench's database for reading
	// PostgreSQL's statistics; nil when embedded.
	stats *pgx.Conn
	// database is the name of the bench's database.
	database string
	// autovacuumOff is set when the PostgreSQL server runs without
	// autovacuum (as a CI server may).
	autovacuumOff bool

	cleanups []func(context.Context) error
}

// onCleanup runs f when the pass ends, the last added first.
func (p *pass) onCleanup(f func(context.Context) error) { p.cleanups = append(p.cleanups, f) }

// close stops shiphook and removes what the pass made: the database, the
// Redis keys, the working directory. It runs whatever happened before,
// with its own time limit, and reports every failure.
func (p *pass) close(stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		if err := p.cleanups[i](ctx); err != nil {
			errs = append(errs, err)
			fmt.Fprintf(stderr, "cleanup: %v\n", err)
		}
	}
	p.cleanups = nil
	return errors.Join(errs...)
}

// passConfig is what setting up a pass needs from the options.
type passConfig struct {
	bin         string // absolute path of the shiphook binary
	databaseURL string
	redisURL    string
	// env is added to shiphook's environment (KEY=VALUE), after the
	// bench's own settings.
	env []string
}

// startPass sets up the servers of a pass, starts shiphook serve and waits
// until it answers /healthz. On error, what was set up is already undone.
func startPass(ctx context.Context, name string, c passConfig, stderr io.Writer) (_ *pass, err error) {
	p := &pass{name: name}
	defer func() {
		if err != nil {
			_ = p.close(stderr)
		}
	}()
	if p.dir, err = os.MkdirTemp("", "shiphook-bench-"); err != nil {
		return nil, err
	}
	p.onCleanup(func(context.Context) error { return os.RemoveAll(p.dir) })
	p.logPath = filepath.Join(p.dir, "shiphook.log")

	key, err := harness.Output(ctx, c.bin, nil, "", "gen-key")
	if err != nil {
		return nil, fmt.Errorf("generate an admin key: %w", err)
	}
	key = strings.TrimSpace(key)
	// PostgreSQL needs the key given; SQLite would make its own.
	encryptionKey, err := harness.Output(ctx, c.bin, nil, "", "gen-encryption-key")
	if err != nil {
		return nil, fmt.Errorf("generate an encryption key: %w", err)
	}
	port, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + p.dir,
		"SHIPHOOK_ADDR=" + addr,
		"SHIPHOOK_ADMIN_KEY=" + key,
		"SHIPHOOK_ENCRYPTION_KEY=" + strings.TrimSpace(encryptionKey),
		"SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS=loopback",
		"SHIPHOOK_LOG_LEVEL=warn",
		"SHIPHOOK_SHUTDOWN_TIMEOUT=5s",
	}

	if name == passPostgres {
		dbURL, err := p.createDatabase(ctx, c.databaseURL, stderr)
		if err != nil {
			return nil, err
		}
		if err := p.claimRedis(ctx, c.redisURL, stderr); err != nil {
			return nil, err
		}
		p.env = append(p.env, "DATABASE_URL="+dbURL, "REDIS_URL="+c.redisURL)
	}
	p.env = append(p.env, c.env...)

	if name == passPostgres {
		fmt.Fprintln(stderr, "shiphook migrate")
		mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		out, err := harness.Output(mctx, c.bin, p.env, p.dir, "migrate")
		cancel()
		if err != nil {
			return nil, fmt.Errorf("shiphook migrate: %w: %s", err, out)
		}
	}
	if err := p.startShiphook(c.bin); err != nil {
		return nil, err
	}
	p.api = harness.NewClient("http://"+addr, key)
	if err := p.waitHealthy(ctx, time.Minute); err != nil {
		return nil, err
	}
	p.meter.shiphook = p.proc.Pid()
	return p, nil
}

// createDatabase makes a fresh database shiphook_bench_<random> on the
// server of serverURL, dropped when the pass ends, and returns its URL. It
// also finds the server's processes, when they run on this machine.
func (p *pass) createDatabase(ctx context.Context, serverURL string, stderr io.Writer) (string, error) {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", fmt.Errorf("connect to PostgreSQL at %s: %w", redactURL(serverURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var (
		backend    int
		autovacuum string
	)
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('autovacuum'), pg_backend_pid()").Scan(&p.postgresVersion, &autovacuum, &backend); err != nil {
		return "", fmt.Errorf("ask PostgreSQL its version: %w", err)
	}
	p.autovacuumOff = autovacuum == "off"
	name := "shiphook_bench_" + randomHex(6)
	// Every PostgreSQL process is a child of the postmaster, the parent of
	// this connection's backend.
	if st, err := readStat(backend); err == nil && isCommand(st.ppid, "postgres") {
		p.meter.postgres = processTree{root: st.ppid}
	} else {
		fmt.Fprintln(stderr, "PostgreSQL does not run on this machine (or not visibly): its CPU is not measured")
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	fmt.Fprintf(stderr, "created database %s\n", name)
	p.onCleanup(func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		fmt.Fprintf(stderr, "dropped database %s\n", name)
		return nil
	})
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	p.database = name
	if p.stats, err = pgx.Connect(ctx, u.String()); err != nil {
		return "", fmt.Errorf("connect to database %s: %w", name, err)
	}
	// Added last, so closed before the database is dropped.
	p.onCleanup(func(ctx context.Context) error { return p.stats.Close(ctx) })
	return u.String(), nil
}

// vacuum runs VACUUM ANALYZE on the tables of the bench's database that
// hold rows, live or dead, as autovacuum would have; it returns how many.
//
// Tables that never held a row are left alone, as autovacuum leaves them:
// analyzed while empty, a table would tell the planner it is as small as
// it is now, and a statement that a connection prepares in the first
// seconds of a scenario could then keep a plan that reads the whole table
// to find one row, however large the table grows. Autovacuum analyzes
// such a table again as it grows, which drops those plans; with it off,
// nothing would.
func (p *pass) vacuum(ctx context.Context) (int, error) {
	var tables []string
	rows, err := p.stats.Query(ctx, `SELECT c.oid::regclass::text FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname = ANY (current_schemas(false)) AND pg_relation_size(c.oid) > 0
		ORDER BY 1`)
	if err == nil {
		tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return 0, fmt.Errorf("tables of database %s: %w", p.database, err)
	}
	if len(tables) == 0 {
		return 0, nil
	}
	if _, err := p.stats.Exec(ctx, "VACUUM ANALYZE "+strings.Join(tables, ", ")); err != nil {
		return 0, fmt.Errorf("vacuum database %s: %w", p.database, err)
	}
	return len(tables), nil
}

// checkpoint makes PostgreSQL write out every page left dirty, by the
// scenarios before or by vacuum, so that a scenario does not wait on
// writing out what came before it.
func (p *pass) checkpoint(ctx context.Context) error {
	if _, err := p.stats.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint (the bench's PostgreSQL user needs to be a superuser or in pg_checkpoint; -checkpoint=false skips it): %w", err)
	}
	return nil
}

// pgActivity is what PostgreSQL's statistics said at one moment.
type pgActivity struct {
	// sessions is how many connections were ever opened to the bench's
	// database; others how many transactions other databases ran.
	sessions, others int64
	ok               bool
}

// activity reads PostgreSQL's statistics (zero when embedded). They lag
// by up to a second or so.
func (p *pass) activity(ctx context.Context) pgActivity {
	if p.stats == nil {
		return pgActivity{}
	}
	var a pgActivity
	err := p.stats.QueryRow(ctx, `SELECT
		coalesce(sum(sessions) FILTER (WHERE datname = $1), 0),
		coalesce(sum(xact_commit + xact_rollback) FILTER (WHERE datname IS DISTINCT FROM $1), 0)
		FROM pg_stat_database`, p.database).Scan(&a.sessions, &a.others)
	a.ok = err == nil
	return a
}

// Redis databases are claimed as the tests claim theirs (see
// store/storetest): a key shiphook-test:db:<n> in database 0, so that the
// bench never empties a database a test is using, nor a test the bench's.
const (
	redisClaimPrefix = "shiphook-test:db:"
	redisClaimTTL    = 10 * time.Minute
	redisClaimWait   = time.Minute
)

var (
	// refreshClaim extends the claim only while it is still ours.
	refreshClaim = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)
	releaseClaim = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)
)

// claimRedis claims the database of redisURL, empties it, and empties it
// again and releases it when the pass ends. It also finds redis-server's
// process, when it runs on this machine.
func (p *pass) claimRedis(ctx context.Context, redisURL string, stderr io.Writer) error {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("redis URL: %w", err)
	}
	if opts.DB == 0 {
		return errors.New("redis URL: name a database other than 0 (it holds the test claims), such as redis://127.0.0.1:6379/14")
	}
	rdb := redis.NewClient(opts)
	claimOpts := *opts
	claimOpts.DB = 0
	claims := redis.NewClient(&claimOpts)
	p.onCleanup(func(context.Context) error { _ = rdb.Close(); return claims.Close() })

	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("connect to Redis at %s: %w", redactURL(redisURL), err)
	}
	p.redisVersion = infoField(info, "redis_version")
	if pid, _ := strconv.Atoi(infoField(info, "process_id")); pid > 0 && isCommand(pid, "redis-server") {
		p.meter.redis = processTree{root: pid}
	} else {
		fmt.Fprintln(stderr, "Redis does not run on this machine (or not visibly): its CPU is not measured")
	}

	key, token := redisClaimPrefix+strconv.Itoa(opts.DB), randomHex(16)
	deadline := time.Now().Add(redisClaimWait)
	for {
		ok, err := claims.SetNX(ctx, key, token, redisClaimTTL).Result()
		if err != nil {
			return fmt.Errorf("claim Redis database %d: %w", opts.DB, err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("Redis database %d stayed in use by a test run (%s) for %s; name another with -redis-url", opts.DB, key, redisClaimWait)
		}
		fmt.Fprintf(stderr, "Redis database %d is in use by a test run; waiting\n", opts.DB)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	refreshCtx, stopRefresh := context.WithCancel(context.WithoutCancel(ctx))
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		t := time.NewTicker(redisClaimTTL / 5)
		defer t.Stop()
		for {
			select {
			case <-refreshCtx.Done():
				return
			case <-t.C:
				_ = refreshClaim.Run(refreshCtx, claims, []string{key}, token, redisClaimTTL.Milliseconds()).Err()
			}
		}
	}()
	p.onCleanup(func(ctx context.Context) error {
		stopRefresh()
		<-refreshed
		err := rdb.FlushDB(ctx).Err()
		if rerr := releaseClaim.Run(ctx, claims, []string{key}, token).Err(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if err != nil {
			return fmt.Errorf("empty and release Redis database %d: %w", opts.DB, err)
		}
		fmt.Fprintf(stderr, "emptied Redis database %d\n", opts.DB)
		return nil
	})
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("empty Redis database %d: %w", opts.DB, err)
	}
	return nil
}

// startShiphook starts shiphook serve in its own process group, logging to
// logPath. It is stopped (SIGTERM, then SIGKILL) when the pass ends, and
// killed by the kernel should the bench die first.
func (p *pass) startShiphook(bin string) error {
	proc, err := harness.Start("shiphook", bin, []string{"serve"}, p.env, p.dir, p.logPath)
	if err != nil {
		return err
	}
	p.proc = proc
	p.onCleanup(func(context.Context) error { return proc.Stop(20 * time.Second) })
	return nil
}

// alive returns an error, with the end of shiphook's log, if it has exited.
func (p *pass) alive() error { return p.proc.Alive() }

func (p *pass) waitHealthy(ctx context.Context, limit time.Duration) error {
	return harness.WaitHealthy(ctx, p.api.HTTP, p.api.Base+"/healthz", p.proc, limit)
}

// isCommand reports whether process pid runs the program name.
func isCommand(pid int, name string) bool {
	comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	return err == nil && strings.TrimSpace(string(comm)) == name
}

func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// redactURL hides the password of a server URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
