{{/*
Shared helpers. Most helpers take a dict: (dict "root" $ "stage" "talker"|"vocoder"|"gateway").
*/}}

{{/* Chart name used in labels. */}}
{{- define "qwen3-tts.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Name prefix of every object: the release name unless fullnameOverride is set. Objects are named
<prefix>-<stage>; 45 characters leave room for the longest suffix within the 63-character limit
of Service names (DNS labels).
*/}}
{{- define "qwen3-tts.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 45 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a stage's objects: <prefix>-<stage>. */}}
{{- define "qwen3-tts.stageName" -}}
{{- printf "%s-%s" (include "qwen3-tts.fullname" .root) .stage -}}
{{- end -}}

{{- define "qwen3-tts.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of a stage (immutable in Deployments: keep them minimal). */}}
{{- define "qwen3-tts.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qwen3-tts.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .stage }}
{{- end -}}

{{/* Labels of every object; pass "stage" for stage objects, "" for shared ones. */}}
{{- define "qwen3-tts.labels" -}}
helm.sh/chart: {{ include "qwen3-tts.chart" .root }}
app.kubernetes.io/name: {{ include "qwen3-tts.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .stage }}
app.kubernetes.io/component: {{ .stage }}
{{- end }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: qwen3-tts
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "qwen3-tts.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-qwen3-tts" (include "qwen3-tts.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Container image of a stage: repository:tag, the tag defaulting to the appVersion. */}}
{{- define "qwen3-tts.image" -}}
{{- $v := index .root.Values .stage -}}
{{- printf "%s:%s" $v.image.repository (default .root.Chart.AppVersion $v.image.tag) -}}
{{- end -}}

{{/* model_dir every stage reads. */}}
{{- define "qwen3-tts.modelDir" -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.model.mountPath) .Values.model.name -}}
{{- end -}}

{{/* gRPC target of a stage for the gateway: dns:///<svc>.<ns>.svc.<domain>:<port>. The
Services are headless, so the name resolves to every ready pod and the gateway's round_robin
policy spreads streams over them. */}}
{{- define "qwen3-tts.stageTarget" -}}
{{- $v := index .root.Values .stage -}}
{{- printf "dns:///%s.%s.svc.%s:%d" (include "qwen3-tts.stageName" .) .root.Release.Namespace .root.Values.clusterDomain (int $v.ports.grpc) -}}
{{- end -}}

{{/* "true" when the stage's own gRPC server speaks TLS (kubelet gRPC probes cannot). */}}
{{- define "qwen3-tts.serverTLS" -}}
{{- if eq .stage "gateway" -}}
{{- if .root.Values.tls.gateway.secretName }}true{{ end -}}
{{- else -}}
{{- if .root.Values.tls.internal.secretName }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/* SIGTERM drain timeout of a stage (the binary's default is 30). */}}
{{- define "qwen3-tts.drainSeconds" -}}
{{- $v := index .root.Values .stage -}}
{{- if hasKey $v.config "drain_seconds" }}{{ int $v.config.drain_seconds }}{{ else }}30{{ end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: above preStop sleep + drain_seconds, or the chart fails. */}}
{{- define "qwen3-tts.gracePeriod" -}}
{{- $v := index .root.Values .stage -}}
{{- $needed := add (int (include "qwen3-tts.drainSeconds" .)) (int $v.preStopSleepSeconds) -}}
{{- $set := int $v.terminationGracePeriodSeconds -}}
{{- if eq $set 0 -}}
{{- add $needed 15 -}}
{{- else if le $set (int $needed) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must be above preStopSleepSeconds + config.drain_seconds (%d)" .stage $set (int $needed)) -}}
{{- else -}}
{{- $set -}}
{{- end -}}
{{- end -}}

{{/*
The stage's YAML config file (the binary's --config). Addresses, model_dir and TLS files are
derived from other values; the stage's `config` values add the tunables.
*/}}
{{- define "qwen3-tts.config" -}}
{{- $root := .root -}}
{{- $v := index $root.Values .stage -}}
{{- $cfg := dict "model_dir" (include "qwen3-tts.modelDir" $root) "listen" (printf "0.0.0.0:%d" (int $v.ports.grpc)) "metrics_listen" (printf "0.0.0.0:%d" (int $v.ports.metrics)) -}}
{{- if eq .stage "gateway" -}}
{{- $_ := set $cfg "talker" (include "qwen3-tts.stageTarget" (dict "root" $root "stage" "talker")) -}}
{{- $_ := set $cfg "vocoder" (include "qwen3-tts.stageTarget" (dict "root" $root "stage" "vocoder")) -}}
{{- $_ := set $cfg "http_listen" (ternary (printf "0.0.0.0:%d" (int $v.ports.http)) "" $v.http.enabled) -}}
{{- $_ := set $cfg "voice_dir" "/var/lib/qwen3-tts/voices" -}}
{{- $_ := set $cfg "api_keys_file" (ternary "/etc/qwen3-tts/api-keys/keys" "" (not (empty $v.apiKeys.existingSecret))) -}}
{{- if $root.Values.tls.gateway.secretName -}}
{{- $_ := set $cfg "tls_cert_file" "/etc/qwen3-tts/gateway-tls/tls.crt" -}}
{{- $_ := set $cfg "tls_key_file" "/etc/qwen3-tts/gateway-tls/tls.key" -}}
{{- end -}}
{{- if $root.Values.tls.internal.secretName -}}
{{- $_ := set $cfg "stage_ca_file" "/etc/qwen3-tts/tls/ca.crt" -}}
{{- $_ := set $cfg "stage_cert_file" "/etc/qwen3-tts/tls/tls.crt" -}}
{{- $_ := set $cfg "stage_key_file" "/etc/qwen3-tts/tls/tls.key" -}}
{{- end -}}
{{- else if $root.Values.tls.internal.secretName -}}
{{- $_ := set $cfg "tls_cert_file" "/etc/qwen3-tts/tls/tls.crt" -}}
{{- $_ := set $cfg "tls_key_file" "/etc/qwen3-tts/tls/tls.key" -}}
{{- $_ := set $cfg "tls_client_ca_file" "/etc/qwen3-tts/tls/ca.crt" -}}
{{- end -}}
{{- /* The binaries refuse unencrypted non-loopback traffic unless told: say so where TLS is off. */ -}}
{{- if eq .stage "gateway" -}}
{{- $_ := set $cfg "plaintext" (not (and $root.Values.tls.gateway.secretName $root.Values.tls.internal.secretName)) -}}
{{- else -}}
{{- $_ := set $cfg "plaintext" (empty $root.Values.tls.internal.secretName) -}}
{{- end -}}
{{- toYaml (merge $cfg (deepCopy $v.config)) -}}
{{- end -}}

{{/*
Probes. Kubelet gRPC probes (grpc.health.v1) cannot speak TLS: when the stage's server uses TLS
they fall back to a TCP check of the gRPC port (startup, readiness) and GET /metrics on the
plaintext metrics port (liveness).
*/}}
{{- define "qwen3-tts.probes" -}}
{{- $v := index .root.Values .stage -}}
{{- $tls := include "qwen3-tts.serverTLS" . -}}
{{- range $kind := list "startup" "readiness" "liveness" }}
{{ $kind }}Probe:
  {{- if $tls }}
  {{- if eq $kind "liveness" }}
  httpGet:
    path: /metrics
    port: metrics
  {{- else }}
  tcpSocket:
    port: grpc
  {{- end }}
  {{- else }}
  grpc:
    port: {{ int $v.ports.grpc }}
    {{- if eq $kind "liveness" }}
    service: liveness
    {{- end }}
  {{- end }}
  {{- $p := index $v.probes $kind }}
  periodSeconds: {{ int $p.periodSeconds }}
  timeoutSeconds: {{ int $p.timeoutSeconds }}
  failureThreshold: {{ int $p.failureThreshold }}
{{- end }}
{{- end -}}
