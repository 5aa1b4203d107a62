{{/* The chart's name, or nameOverride. */}}
{{- define "shiphook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, or the release name,
followed by the chart's name unless the release name holds it already.
Truncated so that "-worker" and the like still fit in 63 characters.
*/}}
{{- define "shiphook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := include "shiphook.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "shiphook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "shiphook.labels" -}}
helm.sh/chart: {{ include "shiphook.chart" . }}
{{ include "shiphook.selectorLabels" . }}
app.kubernetes.io/version: {{ include "shiphook.tag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that select the release's pods; a component's add app.kubernetes.io/component. */}}
{{- define "shiphook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shiphook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "shiphook.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "shiphook.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "shiphook.tag" .) }}
{{- end }}

{{/*
The Secret that holds DATABASE_URL, REDIS_URL, SHIPHOOK_ADMIN_KEY and
SHIPHOOK_ENCRYPTION_KEY: secrets.existingSecret, or the chart's own.
*/}}
{{- define "shiphook.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "shiphook.fullname" .) }}
{{- end }}

{{/* An environment variable read from the Secret's key of the same name. */}}
{{- define "shiphook.secretEnv" -}}
- name: {{ .key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "shiphook.secretName" .root }}
      key: {{ .key }}
{{- end }}

{{/*
The environment of a service container: env and the component's own
(dict "root" $ "extra" .Values.api.env), the component's winning, sorted
by name, less the addresses the chart sets itself.
*/}}
{{- define "shiphook.env" -}}
{{- $env := merge (deepCopy (.extra | default dict)) (deepCopy (.root.Values.env | default dict)) }}
{{- $env = omit $env "SHIPHOOK_ADDR" "SHIPHOOK_HEALTH_ADDR" "SHIPHOOK_METRICS_ADDR" }}
{{- range $name := keys $env | sortAlpha }}
- name: {{ $name }}
  value: {{ get $env $name | toString | quote }}
{{- end }}
- name: SHIPHOOK_METRICS_ADDR
  value: {{ printf ":%v" .root.Values.metrics.port | quote }}
{{- end }}

{{/* The pod annotations that ask Prometheus to scrape the metrics port. */}}
{{- define "shiphook.scrapeAnnotations" -}}
{{- if .Values.metrics.scrape }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.metrics.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/*
A checksum of the chart's Secret, so that pods roll when its values
change; nothing for an existing Secret.
*/}}
{{- define "shiphook.secretChecksum" -}}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}
