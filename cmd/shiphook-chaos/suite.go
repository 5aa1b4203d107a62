package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/shiphook/shiphook/internal/harness"
)

// endpoint is one partner's one endpoint, named as the partner.
type endpoint struct {
	name string // the partner's id, and the path at its receiver
	id   string // ep_…
	rcv  *harness.Receiver
	// down is how its receiver fails during its faults; Up for an
	// endpoint that never fails.
	down harness.Mode
	// scheduled is set for the schedule endpoint: it takes only the
	// delivered milestones, and fails each message's first attempts.
	scheduled bool
}

func (e *endpoint) path() string { return "/" + e.name }

// The endpoints: three that never fail, three that fail in turn, and the
// one whose retries are timed.
var endpointSpecs = []struct {
	name      string
	down      harness.Mode
	scheduled bool
}{
	{name: "healthy-1"}, {name: "healthy-2"}, {name: "healthy-3"},
	{name: "hangs", down: harness.Hanging},
	{name: "fails", down: harness.Failing},
	{name: "refuses", down: harness.Refusing},
	{name: "schedule", scheduled: true},
}

// receiverLatency is how long the receivers take to answer a delivery
// they take: deliveries are under way whenever a worker is killed or
// PostgreSQL stops.
const receiverLatency = 100 * time.Millisecond

// scheduleFailures is how many attempts of each message the schedule
// endpoint answers 500 before it takes one.
const scheduleFailures = 3

// suite is one run of the fault suite: the servers, shiphook, the
// receivers, and what was posted.
type suite struct {
	opts    *options
	bin     string
	log     io.Writer
	started time.Time
	dir     string

	pg        *postgres
	redis     *redisServer
	cl        *cluster
	client    *harness.Client
	answers   *answerLog
	spec      *specLog
	tally     *harness.Tally
	receivers []*harness.Receiver
	endpoints []*endpoint
	pub       *publisher
}

func (s *suite) progress(format string, args ...any) {
	fmt.Fprintf(s.log, "[%5.1fs] %s\n", time.Since(s.started).Seconds(), fmt.Sprintf(format, args...))
}

// setUp starts the servers, shiphook and the receivers, and creates the
// partners and endpoints. What it started is stopped by close.
func (s *suite) setUp(ctx context.Context) error {
	var err error
	if s.dir, err = os.MkdirTemp("", "shiphook-chaos-"); err != nil {
		return err
	}
	// The postgres user must reach the cluster's directory.
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return err
	}
	s.progress("initdb and start PostgreSQL, start Redis (in %s)", s.dir)
	if s.pg, err = newPostgres(ctx, s.opts.pgBindir, s.dir); err != nil {
		return err
	}
	if err := s.pg.start(ctx); err != nil {
		return err
	}
	if s.redis, err = newRedis(s.opts.redisServer, s.dir); err != nil {
		return err
	}
	if err := s.redis.start(ctx); err != nil {
		return err
	}
	s.progress("PostgreSQL on 127.0.0.1:%d, Redis on 127.0.0.1:%d; starting shiphook api and %d workers", s.pg.port, s.redis.port, workers)
	if s.cl, err = startCluster(ctx, s.bin, s.dir, baseEnv(s.dir, s.pg.url(), s.redis.url())); err != nil {
		return err
	}
	s.answers = &answerLog{}
	s.client = s.cl.client
	s.client.Observe = s.answers.observe
	s.spec = &specLog{}
	if err := s.spec.watch(s.client); err != nil {
		return err
	}
	if err := s.createEndpoints(ctx); err != nil {
		return err
	}
	var partners []string
	for _, e := range s.endpoints {
		partners = append(partners, e.name)
	}
	s.pub = newPublisher(s.client, partners, s.opts.rate)
	return s.warmUp(ctx)
}

// createEndpoints starts the receivers, and creates a partner and its
// endpoint for each of endpointSpecs. The endpoints that never fail share
// a receiver; each that fails has its own, so that it can refuse
// connections.
func (s *suite) createEndpoints(ctx context.Context) error {
	s.tally = harness.NewTally()
	var shared *harness.Receiver
	for _, spec := range endpointSpecs {
		e := &endpoint{name: spec.name, down: spec.down, scheduled: spec.scheduled}
		if spec.down == harness.Up && shared != nil {
			e.rcv = shared
		} else {
			rcv, err := harness.StartReceiver()
			if err != nil {
				return err
			}
			s.receivers = append(s.receivers, rcv)
			e.rcv = rcv
			if spec.down == harness.Up {
				shared = rcv
			}
		}
		e.rcv.SetLatency(receiverLatency)
		secret := harness.NewSecret()
		failFirst, types := 0, []string{"shipment.milestone.*"}
		if spec.scheduled {
			failFirst, types = scheduleFailures, []string{"shipment.milestone.delivered"}
		}
		if err := e.rcv.AddFailing(e.path(), secret, s.tally, failFirst); err != nil {
			return err
		}
		if err := s.client.Call(ctx, http.MethodPost, "/v1/partners", map[string]any{"id": e.name, "name": "Chaos " + e.name}, nil); err != nil {
			return err
		}
		var created struct {
			ID string `json:"id"`
		}
		ep := map[string]any{"url": e.rcv.URL(e.path()), "event_types": types, "secret": secret}
		if err := s.client.Call(ctx, http.MethodPost, "/v1/partners/"+e.name+"/endpoints", ep, &created); err != nil {
			return err
		}
		e.id = created.ID
		s.endpoints = append(s.endpoints, e)
	}
	return nil
}

// warmUp posts one event, counted apart, and waits until it has reached
// every endpoint but the schedule one: shiphook is delivering.
func (s *suite) warmUp(ctx context.Context) error {
	body := fmt.Appendf(nil, `{"id":"chaos-warm-up","type":"shipment.milestone.departed","occurred_at":"%s",`+
		`"shipment":{"id":"SHP-chaos-warm-up","mode":"ocean","origin":"CNSHA","destination":"NLRTM"},`+
		`"parties":%s,"data":{"location":{"code":"CNSHA","name":"Shanghai"},"bench_warmup":"1"}}`,
		time.Now().UTC().Format(time.RFC3339), s.pub.parties)
	ans, err := s.client.Send(ctx, http.MethodPost, "/v1/events", body)
	if err != nil || ans.Status != http.StatusAccepted {
		return fmt.Errorf("post the warm-up event: %d %s %v", ans.Status, ans.Body, err)
	}
	want := len(s.endpoints) - 1
	deadline := time.Now().Add(time.Minute)
	for s.tally.Warmed() < want {
		if err := s.cl.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the warm-up event reached %d of %d endpoints within a minute", s.tally.Warmed(), want)
		}
		if err := harness.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// close stops every process the suite started and removes its directory
// (unless -keep).
func (s *suite) close() error {
	var errs []error
	if s.cl != nil {
		errs = append(errs, s.cl.stop())
	}
	for _, r := range s.receivers {
		r.Close()
	}
	if s.redis != nil {
		s.redis.kill()
	}
	if s.pg != nil {
		errs = append(errs, s.pg.stop(true))
	}
	if s.dir != "" {
		if s.opts.keep {
			fmt.Fprintf(s.log, "kept %s (the servers' and shiphook's logs)\n", s.dir)
		} else {
			errs = append(errs, os.RemoveAll(s.dir))
		}
	}
	return errors.Join(errs...)
}
