package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat. It
// is 100 on every Linux architecture Go runs on.
const clockTicks = 100

// procStat is what the bench reads from /proc/<pid>/stat.
type procStat struct {
	ppid int
	// cpu is utime+stime of the process itself; children is cutime+cstime,
	// the CPU of its children that ended and were waited for.
	cpu, children time.Duration
}

// readStat reads /proc/<pid>/stat.
func readStat(pid int) (procStat, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	// The command name is in parentheses and may hold spaces: the fields
	// start after the last ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state) of proc(5): ppid is field 4, utime 14,
	// stime 15, cutime 16, cstime 17.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	num := func(k int) int64 { n, _ := strconv.ParseInt(f[k], 10, 64); return n }
	tick := time.Second / clockTicks
	return procStat{
		ppid:     int(num(1)),
		cpu:      time.Duration(num(11)+num(12)) * tick,
		children: time.Duration(num(13)+num(14)) * tick,
	}, nil
}

// processTree sums the CPU of a server and the children it forks (Redis's
// background saves): the root, its live children, and the children that
// already ended (the root's cutime and cstime). Zero root means none is
// known.
type processTree struct{ root int }

// cpu returns the CPU the tree has used so far.
func (t processTree) cpu() (time.Duration, error) {
	if t.root == 0 {
		return 0, errors.New("no process")
	}
	root, err := readStat(t.root)
	if err != nil {
		return 0, err
	}
	total := root.cpu + root.children
	for _, pid := range childrenOf(t.root) {
		if st, err := readStat(pid); err == nil {
			total += st.cpu
		}
	}
	return total, nil
}

// childrenOf returns the live children of parent.
func childrenOf(parent int) []int {
	var out []int
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == parent {
			continue
		}
		if st, err := readStat(pid); err == nil && st.ppid == parent {
			out = append(out, pid)
		}
	}
	return out
}

// machineBusy returns the CPU time all processors spent on anything but
// idling since boot, from /proc/stat.
func machineBusy() (time.Duration, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[0] != "cpu" {
			continue
		}
		var busy int64
		for i, s := range fields[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			// idle (4th) and iowait (5th) are not busy; guest and
			// guest_nice (9th, 10th) are counted in user already.
			if i == 3 || i == 4 || i >= 8 {
				continue
			}
			busy += n
		}
		return time.Duration(busy) * (time.Second / clockTicks), nil
	}
	return 0, errors.New("/proc/stat: no cpu line")
}

// rssOf returns the resident set size of pid in bytes, from
// /proc/<pid>/status (VmRSS).
func rssOf(pid int) (int64, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// rssSampler records the highest RSS of a process, sampled every 100 ms.
type rssSampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	peak int64
	last int64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	n, err := rssOf(s.pid)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.last = n
	s.peak = max(s.peak, n)
	s.mu.Unlock()
}

// current returns the last sample.
func (s *rssSampler) current() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// finish stops sampling and returns the peak.
func (s *rssSampler) finish() int64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// cpuMeter reads the CPU used so far by every party of a pass.
type cpuMeter struct {
	shiphook int
	// redis is redis-server; postgres is the postmaster with every backend
	// and background process, including the backends that ended (shiphook
	// opens and closes connections as its pool sees fit). Both count work
	// they did for other clients too. Zero roots: inside shiphook.
	redis, postgres processTree
}

// cpuSample is the CPU used so far by each party, and by the machine.
type cpuSample struct {
	at                                time.Time
	shiphook, redis, postgres, itself time.Duration
	machine                           time.Duration
	// shiphookGone is set when shiphook could not be read: it has exited.
	shiphookGone bool
}

func (m cpuMeter) read() cpuSample {
	s := cpuSample{at: time.Now()}
	if st, err := readStat(m.shiphook); err == nil {
		s.shiphook = st.cpu
	} else {
		s.shiphookGone = true
	}
	s.redis, _ = m.redis.cpu()
	s.postgres, _ = m.postgres.cpu()
	if st, err := readStat(os.Getpid()); err == nil {
		s.itself = st.cpu
	}
	s.machine, _ = machineBusy()
	return s
}

// cpuUse is the CPU each party used between two samples.
type cpuUse struct {
	wall                              time.Duration
	shiphook, redis, postgres, itself time.Duration
	// other is what every other process on the machine used.
	other time.Duration
	// unknown is set when shiphook exited in between: there are no figures.
	unknown bool
}

func (a cpuSample) until(b cpuSample) cpuUse {
	u := cpuUse{
		wall:     b.at.Sub(a.at),
		shiphook: b.shiphook - a.shiphook,
		redis:    b.redis - a.redis,
		postgres: b.postgres - a.postgres,
		itself:   b.itself - a.itself,
		unknown:  a.shiphookGone || b.shiphookGone,
	}
	u.other = max(0, (b.machine-a.machine)-u.shiphook-u.redis-u.postgres-u.itself)
	return u
}
