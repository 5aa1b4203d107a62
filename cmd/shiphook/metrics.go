package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/shiphook/shiphook/dispatcher"
)

// newMetrics returns a registry of shiphook's own, not Prometheus's global
// one, holding the Go runtime's and the process's metrics, the
// dispatcher's counters (labelling the partners listed in
// c.metricsPartners by their id), the Sampler of the backlog, breakers and
// queues, and the statistics of the database's and Redis's connection
// pools; and the dispatcher's counters, for the components that count.
func newMetrics(p parts, c config, log *slog.Logger) (*prometheus.Registry, *dispatcher.Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		dispatcher.NewSampler(p.st, p.guard, p.rdb, dispatcher.DefaultSampleEvery, log),
		poolCollector{db: p.st.DBStats, redis: p.rdb},
	)
	m, err := dispatcher.NewMetrics(reg, metricsPartners(c.metricsPartners))
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	return reg, m, nil
}

// metricsPartners splits a comma-separated list of partner ids.
func metricsPartners(list string) []string {
	var out []string
	for p := range strings.SplitSeq(list, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// startMetrics, when c.metricsAddr is set, makes the metrics of p
// (newMetrics) and serves them at /metrics on that address in g, until g
// stops: a listener of its own, without API keys. It returns the
// dispatcher's counters; nil, counting nothing, when c.metricsAddr is
// empty.
func startMetrics(g *group, p parts, c config, log *slog.Logger, stdout io.Writer) (*dispatcher.Metrics, error) {
	if c.metricsAddr == "" {
		return nil, nil
	}
	reg, m, err := newMetrics(p, c, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for metrics: %w", c.metricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "shiphook %s serving metrics on http://%s/metrics\n", version, ln.Addr())
	g.run(func(context.Context) error { _ = srv.Serve(ln); return nil })
	g.run(func(ctx context.Context) error { <-ctx.Done(); _ = srv.Close(); return nil })
	return m, nil
}

// poolCollector gives the statistics of the database's connection pool
// and of the Redis client's (the asynq servers' own connections aside).
type poolCollector struct {
	db    func() sql.DBStats
	redis redis.UniversalClient
}

var (
	dbConnectionsDesc = prometheus.NewDesc("shiphook_db_connections",
		"Connections of the database pool, by state (in_use, idle).", []string{"state"}, nil)
	dbMaxDesc = prometheus.NewDesc("shiphook_db_max_open_connections",
		"The most connections the database pool opens.", nil, nil)
	dbWaitsDesc = prometheus.NewDesc("shiphook_db_waits_total",
		"Times a statement waited for a connection of the database pool.", nil, nil)
	dbWaitDesc = prometheus.NewDesc("shiphook_db_wait_seconds_total",
		"Time statements spent waiting for a connection of the database pool.", nil, nil)
	redisConnectionsDesc = prometheus.NewDesc("shiphook_redis_connections",
		"Connections of the Redis pool, by state (in_use, idle).", []string{"state"}, nil)
	redisHitsDesc = prometheus.NewDesc("shiphook_redis_pool_hits_total",
		"Times a free connection was found in the Redis pool.", nil, nil)
	redisMissesDesc = prometheus.NewDesc("shiphook_redis_pool_misses_total",
		"Times no free connection was found in the Redis pool.", nil, nil)
	redisTimeoutsDesc = prometheus.NewDesc("shiphook_redis_pool_timeouts_total",
		"Times waiting for a connection of the Redis pool timed out.", nil, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dbConnectionsDesc, dbMaxDesc, dbWaitsDesc, dbWaitDesc,
		redisConnectionsDesc, redisHitsDesc, redisMissesDesc, redisTimeoutsDesc} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	db := c.db()
	metric(dbConnectionsDesc, prometheus.GaugeValue, float64(db.InUse), "in_use")
	metric(dbConnectionsDesc, prometheus.GaugeValue, float64(db.Idle), "idle")
	metric(dbMaxDesc, prometheus.GaugeValue, float64(db.MaxOpenConnections))
	metric(dbWaitsDesc, prometheus.CounterValue, float64(db.WaitCount))
	metric(dbWaitDesc, prometheus.CounterValue, db.WaitDuration.Seconds())
	r := c.redis.PoolStats()
	metric(redisConnectionsDesc, prometheus.GaugeValue, float64(r.TotalConns-min(r.IdleConns, r.TotalConns)), "in_use")
	metric(redisConnectionsDesc, prometheus.GaugeValue, float64(r.IdleConns), "idle")
	metric(redisHitsDesc, prometheus.CounterValue, float64(r.Hits))
	metric(redisMissesDesc, prometheus.CounterValue, float64(r.Misses))
	metric(redisTimeoutsDesc, prometheus.CounterValue, float64(r.Timeouts))
}
