package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/shiphook/shiphook/internal/harness"
)

// postgres is a throwaway PostgreSQL cluster under the suite's directory,
// its postmaster a child of the suite on a free port of 127.0.0.1. As
// root it runs as the postgres user, as PostgreSQL requires.
type postgres struct {
	bindir, dataDir, logPath string
	port                     int
	cred                     *syscall.Credential
	proc                     *harness.Process
}

// newPostgres makes a cluster under dir with initdb: trust
// authentication, user postgres, no sync to disk.
func newPostgres(ctx context.Context, bindir, dir string) (*postgres, error) {
	pg := &postgres{bindir: bindir, dataDir: filepath.Join(dir, "pg"), logPath: filepath.Join(dir, "postgres.log")}
	if err := os.Mkdir(pg.dataDir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL refuses to run as root, and there is no postgres user to run it as (deploy/dev/test-services.sh --binaries makes one): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(pg.dataDir, uid, gid); err != nil {
			return nil, err
		}
	}
	port, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	pg.port = port
	cmd := pg.command(ctx, "initdb", "-D", pg.dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return pg, nil
}

// command returns the PostgreSQL program name of the cluster's bindir,
// run as the postgres user when root.
func (pg *postgres) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bindir, name), args...)
	cmd.Dir = filepath.Dir(pg.dataDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: pg.cred}
	return cmd
}

// url is the connection URL of the cluster's postgres database.
func (pg *postgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// start starts the postmaster and waits until it takes connections.
func (pg *postgres) start(ctx context.Context) error {
	logFile, err := os.OpenFile(pg.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	// Not CommandContext: the postmaster is stopped by stop, in order.
	// fsync and full-page writes guard against the machine crashing, which
	// the suite never does; synchronous_commit stays on, as in production,
	// since an immediate shutdown would lose commits already answered.
	cmd := pg.command(context.Background(), "postgres", "-D", pg.dataDir, "-p", strconv.Itoa(pg.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if pg.proc, err = harness.StartCmd("postgres", cmd, pg.logPath, logFile); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if err := pg.proc.Alive(); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, pg.url())
		if err == nil {
			_ = conn.Close(cctx)
			cancel()
			return nil
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("PostgreSQL took no connection within a minute: %w", err)
		}
		if err := harness.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// stop shuts the postmaster down: fast (SIGINT: sessions ended, a
// checkpoint) or immediate (SIGQUIT: as a crash, recovered at the next
// start). It waits up to 30 s, then kills it.
func (pg *postgres) stop(immediate bool) error {
	if pg.proc == nil {
		return nil
	}
	sig := syscall.SIGINT
	if immediate {
		sig = syscall.SIGQUIT
	}
	pg.proc.Signal(sig)
	select {
	case <-pg.proc.Exited():
		return nil
	case <-time.After(30 * time.Second):
		pg.proc.Kill()
		return errors.New("PostgreSQL did not stop within 30 s; killed it")
	}
}

// redisServer is a throwaway redis-server on a free port of 127.0.0.1,
// without persistence: each start is empty.
type redisServer struct {
	bin, dir, logPath string
	port              int
	proc              *harness.Process
}

func newRedis(bin, dir string) (*redisServer, error) {
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			return nil, errors.New("redis-server not found: install it (Debian: apt-get install redis-server), run through make chaos, or set SHIPHOOK_REDIS_SERVER")
		}
	}
	port, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	return &redisServer{bin: bin, dir: dir, logPath: filepath.Join(dir, "redis.log"), port: port}, nil
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// start starts redis-server, empty, and waits until it answers PING.
func (r *redisServer) start(ctx context.Context) error {
	var err error
	r.proc, err = harness.Start("redis-server", r.bin, []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir}, os.Environ(), r.dir, r.logPath)
	if err != nil {
		return err
	}
	rdb := r.client()
	defer rdb.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := r.proc.Alive(); err != nil {
			return err
		}
		if err = rdb.Ping(ctx).Err(); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer PING within 30 s: %w", err)
		}
		if err := harness.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func (r *redisServer) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(r.port), MaxRetries: -1})
}

// flushAll empties every database of the running server.
func (r *redisServer) flushAll(ctx context.Context) error {
	rdb := r.client()
	defer rdb.Close()
	return rdb.FlushAll(ctx).Err()
}

// kill ends the server at once, losing what it held.
func (r *redisServer) kill() {
	if r.proc != nil {
		r.proc.Kill()
	}
}
