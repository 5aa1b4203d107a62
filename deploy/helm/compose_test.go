package helm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeService is what the test reads of a service in deploy/compose.yaml.
type composeService struct {
	Image       string
	Command     []string
	Profiles    []string
	ReadOnly    bool `json:"read_only"`
	Environment map[string]string
	Volumes     []string
	Healthcheck *struct {
		Test    []string
		Disable bool
	}
}

// TestCompose parses deploy/compose.yaml (YAML anchors and merge keys
// included) and checks what Docker cannot be run here to check: the
// services and their profiles, the shiphook containers' read-only root
// filesystem, health checks and metrics address, and that the files it
// mounts from this repository exist.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]composeService
		Volumes  map[string]any
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var names []string
	for name := range file.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"api", "grafana", "migrate", "postgres", "prometheus", "redis", "worker"}
	if !slices.Equal(names, want) {
		t.Fatalf("services: got %v, want %v", names, want)
	}

	for _, name := range []string{"migrate", "api", "worker"} {
		s := file.Services[name]
		requireEqual(t, name+" command", strings.Join(s.Command, " "), name)
		requireEqual(t, name+" read_only", s.ReadOnly, true)
		requireEqual(t, name+" SHIPHOOK_METRICS_ADDR", s.Environment["SHIPHOOK_METRICS_ADDR"], ":9464")
		if s.Environment["DATABASE_URL"] == "" || s.Environment["SHIPHOOK_ENCRYPTION_KEY"] == "" {
			t.Fatalf("%s environment: %v", name, s.Environment)
		}
		if len(s.Profiles) != 0 {
			t.Fatalf("%s is in profiles %v", name, s.Profiles)
		}
	}
	requireEqual(t, "api health check", strings.Join(file.Services["api"].Healthcheck.Test, " "), "CMD /shiphook health -url http://127.0.0.1:8080/readyz")
	requireEqual(t, "worker health check", strings.Join(file.Services["worker"].Healthcheck.Test, " "), "CMD /shiphook health -url http://127.0.0.1:8081/healthz")

	for _, name := range []string{"prometheus", "grafana"} {
		if !slices.Equal(file.Services[name].Profiles, []string{"monitoring"}) {
			t.Fatalf("%s profiles: %v", name, file.Services[name].Profiles)
		}
	}
	requireMount(t, file.Services["prometheus"], "./prometheus", "/etc/prometheus")
	requireMount(t, file.Services["grafana"], "./grafana/provisioning", "/etc/grafana/provisioning")
	requireMount(t, file.Services["grafana"], "./grafana/shiphook-dashboard.json", "/etc/dashboards/shiphook/shiphook-dashboard.json")
	requireMount(t, file.Services["redis"], "./redis.conf", "/usr/local/etc/redis/redis.conf")

	// The mounts of files this repository holds, other than the
	// Prometheus configuration and the dashboard, exist.
	for _, p := range []string{"../redis.conf", "../grafana/provisioning/datasources/prometheus.yaml", "../grafana/provisioning/dashboards/shiphook.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(p) == ".yaml" {
			var v map[string]any
			if err := yaml.Unmarshal(b, &v); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
	}
}

// TestGrafanaProvisioning checks that the dashboard provider reads the
// folder compose.yaml mounts the dashboard in, and that the data source is
// the compose file's Prometheus.
func TestGrafanaProvisioning(t *testing.T) {
	var ds struct {
		Datasources []struct{ Name, UID, Type, URL string }
	}
	readYAML(t, "../grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 {
		t.Fatalf("data sources: %+v", ds.Datasources)
	}
	d := ds.Datasources[0]
	requireEqual(t, "data source", d.Type+" "+d.UID+" "+d.URL, "prometheus prometheus http://prometheus:9090")

	var dash struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		}
	}
	readYAML(t, "../grafana/provisioning/dashboards/shiphook.yaml", &dash)
	if len(dash.Providers) != 1 {
		t.Fatalf("providers: %+v", dash.Providers)
	}
	requireEqual(t, "provider", dash.Providers[0].Type+" "+dash.Providers[0].Options.Path, "file /etc/dashboards/shiphook")
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// requireMount fails unless s mounts source at target (read-only).
func requireMount(t *testing.T, s composeService, source, target string) {
	t.Helper()
	want := source + ":" + target + ":ro"
	if !slices.Contains(s.Volumes, want) {
		t.Fatalf("no volume %s among %v", want, s.Volumes)
	}
}
