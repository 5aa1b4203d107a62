// Package helm checks the shiphook chart: it renders the chart as "helm
// install" would, with Helm's own engine, and asserts on the Kubernetes
// objects that come out, each decoded strictly into its API type, so that
// a misspelt or misplaced field fails here and not in a cluster.
package helm

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "shiphook"
	release   = "prod"
	namespace = "shipping"
)

// object is one rendered Kubernetes object.
type object struct {
	file string
	kind string
	name string
	doc  []byte
}

func (o object) String() string { return o.kind + "/" + o.name }

// baseValues are what an operator must give: the four secret settings.
func baseValues() map[string]any {
	return map[string]any{
		"secrets": map[string]any{
			"databaseURL":   "postgres://shiphook:pw@db:5432/shiphook?sslmode=require",
			"redisURL":      "redis://:pw@redis:6379/0",
			"adminKey":      "sk_admin_test",
			"encryptionKey": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		},
	}
}

// with returns baseValues with the values at each dotted path set.
func with(sets map[string]any) map[string]any {
	vals := baseValues()
	for path, v := range sets {
		keys := strings.Split(path, ".")
		m := vals
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[keys[len(keys)-1]] = v
	}
	return vals
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// render renders the chart with vals as an install of release in
// namespace, and returns its objects in file order, or the error.
func render(t *testing.T, vals map[string]any) ([]object, map[string]string, error) {
	t.Helper()
	ch, err := loader.LoadDir(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	top, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true, Revision: 1}, nil)
	if err != nil {
		return nil, nil, err
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var objs []object
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for _, doc := range docSeparator.Split(files[name], -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var meta struct {
				Kind     string
				Metadata struct{ Name string }
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s: not YAML: %v\n%s", name, err, doc)
			}
			objs = append(objs, object{file: name, kind: meta.Kind, name: meta.Metadata.Name, doc: []byte(doc)})
		}
	}
	return objs, files, nil
}

// mustRender renders the chart with vals and fails the test on an error.
func mustRender(t *testing.T, vals map[string]any) []object {
	t.Helper()
	objs, _, err := render(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return objs
}

// decode decodes the one object of kind and name in objs strictly into
// a value of T, failing the test if there is none or a field is unknown.
func decode[T any](t *testing.T, objs []object, kind, name string) *T {
	t.Helper()
	for _, o := range objs {
		if o.kind == kind && o.name == name {
			v := new(T)
			if err := yaml.UnmarshalStrict(o.doc, v); err != nil {
				t.Fatalf("%s in %s: %v\n%s", o, o.file, err, o.doc)
			}
			return v
		}
	}
	t.Fatalf("no %s/%s among %v", kind, name, objs)
	return nil
}

func list(objs []object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.String()
	}
	sort.Strings(out)
	return out
}

func requireEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func TestDefaultObjects(t *testing.T) {
	objs := mustRender(t, baseValues())
	got := list(objs)
	want := []string{
		"Deployment/prod-shiphook-api",
		"Deployment/prod-shiphook-worker",
		"Job/prod-shiphook-migrate",
		"PodDisruptionBudget/prod-shiphook-api",
		"PodDisruptionBudget/prod-shiphook-worker",
		"Secret/prod-shiphook",
		"Service/prod-shiphook-api",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("objects:\n got %v\nwant %v", got, want)
	}
	for _, o := range objs {
		t.Logf("%-40s %s", o, o.file)
	}
	// Every object decodes strictly into its API type.
	for _, o := range objs {
		switch o.kind {
		case "Deployment":
			decode[appsv1.Deployment](t, objs, o.kind, o.name)
		case "Job":
			decode[batchv1.Job](t, objs, o.kind, o.name)
		case "PodDisruptionBudget":
			decode[policyv1.PodDisruptionBudget](t, objs, o.kind, o.name)
		case "Secret":
			decode[corev1.Secret](t, objs, o.kind, o.name)
		case "Service":
			svc := decode[corev1.Service](t, objs, o.kind, o.name)
			requireEqual(t, "service selector component", svc.Spec.Selector["app.kubernetes.io/component"], "api")
			requireEqual(t, "service target port", svc.Spec.Ports[0].TargetPort.String(), "http")
		default:
			t.Fatalf("unexpected %s", o)
		}
	}
}

func TestMigrationJobRunsBeforeInstallAndUpgrade(t *testing.T) {
	objs := mustRender(t, baseValues())
	job := decode[batchv1.Job](t, objs, "Job", "prod-shiphook-migrate")
	requireEqual(t, "hook", job.Annotations["helm.sh/hook"], "pre-install,pre-upgrade")
	requireEqual(t, "restart policy", job.Spec.Template.Spec.RestartPolicy, corev1.RestartPolicyNever)
	c := job.Spec.Template.Spec.Containers[0]
	requireEqual(t, "args", strings.Join(c.Args, " "), "migrate")
	requireEqual(t, "secret env", strings.Join(secretEnv(t, c), " "), "DATABASE_URL<-prod-shiphook")

	// The chart's Secret is a hook too, created before the Job.
	secret := decode[corev1.Secret](t, objs, "Secret", "prod-shiphook")
	requireEqual(t, "secret hook", secret.Annotations["helm.sh/hook"], "pre-install,pre-upgrade")
	if w, j := secret.Annotations["helm.sh/hook-weight"], job.Annotations["helm.sh/hook-weight"]; atoi(t, w) >= atoi(t, j) {
		t.Fatalf("secret's hook weight %s is not below the job's %s", w, j)
	}

	objs = mustRender(t, with(map[string]any{"migrate.enabled": false}))
	if slices.Contains(list(objs), "Job/prod-shiphook-migrate") {
		t.Fatal("migrate.enabled=false still renders the Job")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// secretEnv lists c's variables read from a Secret, as NAME<-secret,
// each from the key of its own name.
func secretEnv(t *testing.T, c corev1.Container) []string {
	t.Helper()
	var out []string
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		requireEqual(t, e.Name+" key", ref.Key, e.Name)
		out = append(out, e.Name+"<-"+ref.Name)
	}
	return out
}

// env returns the literal value of c's variable name, and whether it is set.
func env(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

// port returns c's container port named name.
func port(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %s", c.Name, name)
	return 0
}

func TestServiceContainers(t *testing.T) {
	objs := mustRender(t, baseValues())
	cases := []struct {
		deployment, command, probePort string
		containerPort                  int32
		addrEnv, addr                  string
		secrets                        string
	}{
		{"prod-shiphook-api", "api", "http", 8080, "SHIPHOOK_ADDR", ":8080",
			"DATABASE_URL<-prod-shiphook REDIS_URL<-prod-shiphook SHIPHOOK_ADMIN_KEY<-prod-shiphook SHIPHOOK_ENCRYPTION_KEY<-prod-shiphook"},
		{"prod-shiphook-worker", "worker", "probes", 8081, "SHIPHOOK_HEALTH_ADDR", ":8081",
			"DATABASE_URL<-prod-shiphook REDIS_URL<-prod-shiphook SHIPHOOK_ENCRYPTION_KEY<-prod-shiphook"},
	}
	for _, tc := range cases {
		t.Run(tc.command, func(t *testing.T) {
			d := decode[appsv1.Deployment](t, objs, "Deployment", tc.deployment)
			requireEqual(t, "replicas", *d.Spec.Replicas, int32(2))
			c := d.Spec.Template.Spec.Containers[0]
			requireEqual(t, "args", strings.Join(c.Args, " "), tc.command)
			requireEqual(t, "probe port", port(t, c, tc.probePort), tc.containerPort)
			addr, _ := env(c, tc.addrEnv)
			requireEqual(t, tc.addrEnv, addr, tc.addr)
			requireEqual(t, "readiness path", c.ReadinessProbe.HTTPGet.Path, "/readyz")
			requireEqual(t, "readiness port", c.ReadinessProbe.HTTPGet.Port.String(), tc.probePort)
			requireEqual(t, "liveness path", c.LivenessProbe.HTTPGet.Path, "/healthz")
			requireEqual(t, "liveness port", c.LivenessProbe.HTTPGet.Port.String(), tc.probePort)
			requireEqual(t, "startup path", c.StartupProbe.HTTPGet.Path, "/healthz")
			requireEqual(t, "secret env", strings.Join(secretEnv(t, c), " "), tc.secrets)
			format, _ := env(c, "SHIPHOOK_LOG_FORMAT")
			requireEqual(t, "log format", format, "json")
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Fatalf("resources: %+v", c.Resources)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	objs := mustRender(t, with(map[string]any{
		"env":        map[string]any{"SHIPHOOK_RETENTION": "168h", "SHIPHOOK_CONCURRENCY": 100, "SHIPHOOK_METRICS_ADDR": ":1"},
		"worker.env": map[string]any{"SHIPHOOK_CONCURRENCY": 400},
	}))
	for name, want := range map[string]string{"prod-shiphook-api": "100", "prod-shiphook-worker": "400"} {
		c := decode[appsv1.Deployment](t, objs, "Deployment", name).Spec.Template.Spec.Containers[0]
		seen := map[string]bool{}
		for _, e := range c.Env {
			if seen[e.Name] {
				t.Fatalf("%s sets %s twice", name, e.Name)
			}
			seen[e.Name] = true
		}
		concurrency, _ := env(c, "SHIPHOOK_CONCURRENCY")
		requireEqual(t, name+" concurrency", concurrency, want)
		retention, _ := env(c, "SHIPHOOK_RETENTION")
		requireEqual(t, name+" retention", retention, "168h")
		metrics, _ := env(c, "SHIPHOOK_METRICS_ADDR")
		requireEqual(t, name+" metrics address", metrics, ":9464")
	}
}

func TestExistingSecret(t *testing.T) {
	vals := map[string]any{"secrets": map[string]any{"existingSecret": "shiphook-prod-secrets"}}
	objs := mustRender(t, vals)
	for _, o := range objs {
		if o.kind == "Secret" {
			t.Fatalf("an existing secret is named, yet the chart renders %s", o)
		}
	}
	for _, name := range []string{"prod-shiphook-api", "prod-shiphook-worker"} {
		d := decode[appsv1.Deployment](t, objs, "Deployment", name)
		for _, ref := range secretEnv(t, d.Spec.Template.Spec.Containers[0]) {
			if !strings.HasSuffix(ref, "<-shiphook-prod-secrets") {
				t.Fatalf("%s: %s", name, ref)
			}
		}
		if _, ok := d.Spec.Template.Annotations["checksum/secret"]; ok {
			t.Fatalf("%s has a checksum of a secret the chart does not make", name)
		}
	}
	job := decode[batchv1.Job](t, objs, "Job", "prod-shiphook-migrate")
	requireEqual(t, "job secret env", strings.Join(secretEnv(t, job.Spec.Template.Spec.Containers[0]), " "), "DATABASE_URL<-shiphook-prod-secrets")
}

// TestSchema checks that values.schema.json refuses values of the wrong
// type or a misspelt secret, before anything renders.
func TestSchema(t *testing.T) {
	for path, v := range map[string]any{
		"metrics.port":            "9464",
		"worker.replicas":         "two",
		"api.autoscaling.enabled": "yes",
		"secrets.databaseUrl":     "postgres://db/shiphook",
		"env.SHIPHOOK_RETENTION":  map[string]any{"hours": 720},
	} {
		_, _, err := render(t, with(map[string]any{path: v}))
		if err == nil || !strings.Contains(err.Error(), "schema") {
			t.Fatalf("%s=%v: %v", path, v, err)
		}
	}
}

func TestSecretsRequired(t *testing.T) {
	for _, key := range []string{"databaseURL", "redisURL", "adminKey", "encryptionKey"} {
		vals := baseValues()
		delete(vals["secrets"].(map[string]any), key)
		_, _, err := render(t, vals)
		if err == nil || !strings.Contains(err.Error(), "secrets."+key+" is required") {
			t.Fatalf("without secrets.%s: %v", key, err)
		}
	}
}

// pods returns the pod templates of objs: the Deployments' and the Job's.
func pods(t *testing.T, objs []object) map[string]corev1.PodTemplateSpec {
	t.Helper()
	out := map[string]corev1.PodTemplateSpec{}
	for _, o := range objs {
		switch o.kind {
		case "Deployment":
			out[o.String()] = decode[appsv1.Deployment](t, objs, o.kind, o.name).Spec.Template
		case "Job":
			out[o.String()] = decode[batchv1.Job](t, objs, o.kind, o.name).Spec.Template
		}
	}
	if len(out) != 3 {
		t.Fatalf("pod templates: %v", out)
	}
	return out
}

func TestSecurityContext(t *testing.T) {
	for name, pod := range pods(t, mustRender(t, baseValues())) {
		psc := pod.Spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Fatalf("%s: pod security context %+v", name, psc)
		}
		if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
			t.Fatalf("%s mounts a service account token", name)
		}
		for _, c := range pod.Spec.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Fatalf("%s/%s: security context %+v", name, c.Name, sc)
			}
		}
	}
}

func TestMetricsScrape(t *testing.T) {
	objs := mustRender(t, baseValues())
	for name, pod := range pods(t, objs) {
		if strings.HasPrefix(name, "Job/") {
			continue
		}
		a := pod.Annotations
		requireEqual(t, name+" scrape", a["prometheus.io/scrape"], "true")
		requireEqual(t, name+" port", a["prometheus.io/port"], "9464")
		requireEqual(t, name+" path", a["prometheus.io/path"], "/metrics")
		if a["checksum/secret"] == "" {
			t.Fatalf("%s: no checksum of the chart's secret", name)
		}
		c := pod.Spec.Containers[0]
		addr, _ := env(c, "SHIPHOOK_METRICS_ADDR")
		requireEqual(t, name+" SHIPHOOK_METRICS_ADDR", addr, ":9464")
		requireEqual(t, name+" metrics port", port(t, c, "metrics"), int32(9464))
	}

	objs = mustRender(t, with(map[string]any{"metrics.scrape": false}))
	for name, pod := range pods(t, objs) {
		if _, ok := pod.Annotations["prometheus.io/scrape"]; ok {
			t.Fatalf("%s: scrape annotations with metrics.scrape=false", name)
		}
	}
}

func TestOptionalObjects(t *testing.T) {
	t.Run("ingress", func(t *testing.T) {
		objs := mustRender(t, with(map[string]any{"ingress.enabled": true, "ingress.className": "nginx"}))
		ing := decode[networkingv1.Ingress](t, objs, "Ingress", "prod-shiphook")
		requireEqual(t, "class", *ing.Spec.IngressClassName, "nginx")
		rule := ing.Spec.Rules[0]
		requireEqual(t, "host", rule.Host, "shiphook.example.com")
		backend := rule.HTTP.Paths[0].Backend.Service
		requireEqual(t, "backend", backend.Name, "prod-shiphook-api")
		requireEqual(t, "backend port", backend.Port.Name, "http")
	})
	t.Run("autoscaling", func(t *testing.T) {
		objs := mustRender(t, with(map[string]any{"api.autoscaling.enabled": true, "worker.autoscaling.enabled": true, "worker.autoscaling.maxReplicas": 20}))
		for _, c := range []string{"api", "worker"} {
			hpa := decode[autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler", "prod-shiphook-"+c)
			requireEqual(t, c+" target", hpa.Spec.ScaleTargetRef.Kind+"/"+hpa.Spec.ScaleTargetRef.Name, "Deployment/prod-shiphook-"+c)
			requireEqual(t, c+" metric", string(hpa.Spec.Metrics[0].Resource.Name), "cpu")
			d := decode[appsv1.Deployment](t, objs, "Deployment", "prod-shiphook-"+c)
			if d.Spec.Replicas != nil {
				t.Fatalf("%s: replicas %d set beside its autoscaler", c, *d.Spec.Replicas)
			}
		}
		hpa := decode[autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler", "prod-shiphook-worker")
		requireEqual(t, "worker max", hpa.Spec.MaxReplicas, int32(20))
	})
	t.Run("one autoscaler", func(t *testing.T) {
		got := list(mustRender(t, with(map[string]any{"worker.autoscaling.enabled": true})))
		if !slices.Contains(got, "HorizontalPodAutoscaler/prod-shiphook-worker") || slices.Contains(got, "HorizontalPodAutoscaler/prod-shiphook-api") {
			t.Fatalf("objects: %v", got)
		}
	})
	t.Run("no disruption budgets", func(t *testing.T) {
		got := list(mustRender(t, with(map[string]any{"api.podDisruptionBudget.enabled": false, "worker.podDisruptionBudget.enabled": false})))
		for _, o := range got {
			if strings.HasPrefix(o, "PodDisruptionBudget/") {
				t.Fatalf("objects: %v", got)
			}
		}
	})
	t.Run("disruption budget selects its component", func(t *testing.T) {
		objs := mustRender(t, baseValues())
		pdb := decode[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "prod-shiphook-worker")
		requireEqual(t, "selector", pdb.Spec.Selector.MatchLabels["app.kubernetes.io/component"], "worker")
		requireEqual(t, "max unavailable", pdb.Spec.MaxUnavailable.String(), "1")
	})
}

func TestNotes(t *testing.T) {
	_, files, err := render(t, baseValues())
	if err != nil {
		t.Fatal(err)
	}
	notes := files["shiphook/templates/NOTES.txt"]
	for _, want := range []string{"prod-shiphook-migrate", "port-forward svc/prod-shiphook-api", "SHIPHOOK_ADMIN_KEY"} {
		if !strings.Contains(notes, want) {
			t.Fatalf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
}

// TestLint runs what "helm lint --strict" runs: no warning, no error.
func TestLint(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"defaults":        baseValues(),
		"everything on":   with(map[string]any{"ingress.enabled": true, "api.autoscaling.enabled": true, "worker.autoscaling.enabled": true}),
		"existing secret": {"secrets": map[string]any{"existingSecret": "s"}},
	} {
		t.Run(name, func(t *testing.T) {
			result := lint.RunAll(chartDir, vals, namespace)
			for _, m := range result.Messages {
				t.Log(m)
			}
			if result.HighestSeverity >= support.WarningSev {
				t.Fatalf("helm lint: %d messages, the worst of severity %d", len(result.Messages), result.HighestSeverity)
			}
		})
	}
	t.Run("reports a broken template", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "shiphook")
		if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
			t.Fatal(err)
		}
		svc := filepath.Join(dir, "templates", "service.yaml")
		b, err := os.ReadFile(svc)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(svc, append(b, "  ports: [\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		result := lint.RunAll(dir, baseValues(), namespace)
		if result.HighestSeverity != support.ErrorSev {
			t.Fatalf("helm lint of a broken service.yaml: %v", result.Messages)
		}
	})
}
