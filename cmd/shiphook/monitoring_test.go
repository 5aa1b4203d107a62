package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestMonitoringConfig checks what deploy/ gives Prometheus and Grafana:
// the scrape configuration names the api and worker services' metrics
// ports and the rule file; every alert rule has an expression, a for, a
// severity and a summary; the dashboard is a Grafana dashboard whose
// every panel queries; and every metric that a rule or a panel names is
// one that a running shiphook serves.
func TestMonitoringConfig(t *testing.T) {
	checkPrometheusConfig(t)
	exprs := append(alertExprs(t), dashboardExprs(t)...)
	t.Chdir(t.TempDir())
	env := embeddedEnv()
	env["SHIPHOOK_METRICS_ADDR"] = "127.0.0.1:0"
	served := servedNames(scrape(t, metricsURLOf(t, startServer(t, "serve", env))))
	for _, e := range exprs {
		for _, name := range metricNames.FindAllString(e, -1) {
			require.True(t, served[name], "%s, in %q, is not a metric shiphook serves", name, e)
		}
	}
}

// metricNames finds the names of shiphook's metrics, and those of the Go
// runtime and the process, in an expression. Prometheus's own up is not
// one of them.
var metricNames = regexp.MustCompile(`\b(shiphook|go|process)_[a-z0-9_]+\b`)

// servedNames returns the names of the series in fams: a histogram's
// _bucket, _sum and _count.
func servedNames(fams map[string]*dto.MetricFamily) map[string]bool {
	names := map[string]bool{}
	for name, f := range fams {
		names[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[name+s] = true
			}
		}
	}
	return names
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	require.NoError(t, dec.Decode(v), path)
}

// checkPrometheusConfig checks the scrape configuration.
func checkPrometheusConfig(t *testing.T) {
	t.Helper()
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			MetricsPath  string `yaml:"metrics_path"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "../../deploy/prometheus/prometheus.yml", &prom)
	require.Equal(t, []string{"/etc/prometheus/alerts.yaml"}, prom.RuleFiles)
	require.Len(t, prom.ScrapeConfigs, 1)
	require.Equal(t, "shiphook", prom.ScrapeConfigs[0].JobName)
	sc := prom.ScrapeConfigs[0]
	require.Equal(t, "/metrics", sc.MetricsPath)
	require.Len(t, sc.DNSSDConfigs, 1, "every replica of api and worker, found by DNS")
	require.Equal(t, []string{"api", "worker"}, sc.DNSSDConfigs[0].Names, "the compose file's services")
	require.Equal(t, "A", sc.DNSSDConfigs[0].Type)
	require.Equal(t, 9464, sc.DNSSDConfigs[0].Port, "SHIPHOOK_METRICS_ADDR in the compose file")
}

// alertExprs checks the alert rules and returns their expressions.
func alertExprs(t *testing.T) []string {
	t.Helper()
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "../../deploy/prometheus/alerts.yaml", &rules)
	var exprs []string
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		require.NotEmpty(t, g.Name)
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert)
			require.NotEmpty(t, r.Expr, r.Alert)
			require.Regexp(t, `^\d+[smh]$`, r.For, r.Alert)
			require.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			alerts[r.Alert] = true
			exprs = append(exprs, r.Expr)
		}
	}
	for _, a := range []string{"ShiphookDeliveryFailureRatioHigh", "ShiphookOldestPendingMessageOld", "ShiphookBreakerOpenLong"} {
		require.True(t, alerts[a], a)
	}

	return exprs
}

// dashboardExprs checks the dashboard and returns its panels' queries.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	var exprs []string
	raw, err := os.ReadFile("../../deploy/grafana/shiphook-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Title         string `json:"title"`
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			Type    string                  `json:"type"`
			Title   string                  `json:"title"`
			GridPos map[string]int          `json:"gridPos"`
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	require.Equal(t, "shiphook", dash.UID)
	require.NotEmpty(t, dash.Title)
	require.Positive(t, dash.SchemaVersion)
	for _, p := range dash.Panels {
		require.Contains(t, p.GridPos, "w", p.Title)
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, p.Title)
			exprs = append(exprs, tg.Expr)
		}
	}

	return exprs
}
