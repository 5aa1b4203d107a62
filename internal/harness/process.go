package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a child process, such as a shiphook command, logging to a
// file.
type Process struct {
	// Name says which process it is in errors, such as "shiphook api".
	Name    string
	LogPath string
	cmd     *exec.Cmd
	// exited is closed when the process ends; exitErr says how.
	exited  chan struct{}
	exitErr error
}

// Start starts bin with args and env (its whole environment) in dir, in
// its own process group, its output appended to logPath. The kernel kills
// it should this program die first.
func Start(name, bin string, args, env []string, dir, logPath string) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return StartCmd(name, cmd, logPath, logFile)
}

// StartCmd starts cmd, set up by the caller, as a Process logging to
// logPath; logFile, if not nil, is closed when it ends.
func StartCmd(name string, cmd *exec.Cmd, logPath string, logFile io.Closer) (*Process, error) {
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		close(p.exited)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Alive returns an error, with the end of the process's log, if it has
// exited.
func (p *Process) Alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited (%v); the end of its log:\n%s", p.Name, p.exitErr, Tail(p.LogPath, 30))
	default:
		return nil
	}
}

// Signal sends sig to the process, unless it has ended.
func (p *Process) Signal(sig os.Signal) {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// Kill kills the process at once (SIGKILL) and waits for it to end.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop asks the process to stop (SIGTERM) and waits up to grace for it,
// then kills it, which it reports as an error.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	p.Kill()
	return fmt.Errorf("%s did not stop within %s of SIGTERM; killed it", p.Name, grace)
}

// WaitHealthy waits until url answers 200, for up to limit, and returns an
// error with the end of p's log if it does not, or if p exits meanwhile.
func WaitHealthy(ctx context.Context, client *http.Client, url string, p *Process, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if err := p.Alive(); err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		cancel()
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer %s within %s; the end of its log:\n%s", p.Name, url, limit, Tail(p.LogPath, 30))
		}
		if err := Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}
