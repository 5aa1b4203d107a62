// Package harness drives shiphook from outside, as its operators and
// partners do: it runs shiphook's binary as child processes, calls its
// API, and receives its webhooks on 127.0.0.1, verifying every signature
// and counting what arrived. The benchmark tool (cmd/shiphook-bench) and
// the fault suite (cmd/shiphook-chaos) are built on it.
package harness

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Binary returns the absolute path of the shiphook binary at path, or an
// error that says to build it.
func Binary(path string) (string, error) {
	bin, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("shiphook binary: %w (build it with make build)", err)
	}
	return bin, nil
}

// Output runs bin with args, env (its whole environment) and dir, and
// returns what it printed, stdout and stderr together.
func Output(ctx context.Context, bin string, env []string, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Dir = env, dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// FreePort returns a TCP port that nothing listened on a moment ago on
// 127.0.0.1.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Tail returns the last n lines of the file at path.
func Tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Sleep waits for d, or until ctx ends, which it returns as an error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NewSecret returns a Standard Webhooks secret: whsec_ and the base64 of
// 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// stdLogTime is the date and time of a line of Go's standard logger, as
// go-redis logs, after its prefix.
var stdLogTime = regexp.MustCompile(`^(\S+: )?\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(\.\d+)? `)

// CountLogMessages counts the lines of a shiphook log (text format) by
// their message, msg=; a line without one counts whole, less the date
// and time of Go's standard logger.
func CountLogMessages(path string) map[string]int {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		msg := stdLogTime.ReplaceAllString(line, "$1")
		if i := strings.Index(line, "msg="); i >= 0 {
			msg = line[i+4:]
			if q, err := strconv.QuotedPrefix(msg); err == nil {
				msg, _ = strconv.Unquote(q)
			} else if j := strings.IndexByte(msg, ' '); j >= 0 {
				msg = msg[:j]
			}
		}
		out[msg]++
	}
	return out
}
