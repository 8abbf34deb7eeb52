{{/*
Labels every object carries. RBAC objects get only the static ones
(turgon.staticLabels): they are rendered into each component's deploy/rbac.yaml for the
local platform too, which must not change with each chart version.
*/}}
{{- define "turgon.staticLabels" -}}
app.kubernetes.io/name: turgon
app.kubernetes.io/part-of: turgon
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "turgon.labels" -}}
{{ include "turgon.staticLabels" . }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{/* The labels a component's pods are selected by (never change: selectors are immutable). */}}
{{- define "turgon.selectorLabels" -}}
app.kubernetes.io/name: turgon
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* <registry>/turgon-<component>:<tag>; the tag defaults to the chart's appVersion. */}}
{{- define "turgon.image" -}}
{{- $image := .root.Values.image -}}
{{- printf "%s/turgon-%s:%s" $image.registry .component ($image.tag | default .root.Chart.AppVersion) -}}
{{- end }}

{{/* A container's securityContext for the processes that need nothing from the host. */}}
{{- define "turgon.restrictedContainer" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "turgon.restrictedPod" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* namespace/name of objects the components find by reference. */}}
{{- define "turgon.edgeConfigRef" -}}{{ .Release.Namespace }}/turgon-edge{{- end }}
{{- define "turgon.ingressKeysRef" -}}{{ .Release.Namespace }}/{{ .Values.ingressTokens.secretName }}{{- end }}
{{- define "turgon.sshUsersRef" -}}{{ .Release.Namespace }}/turgon-ssh-users{{- end }}

{{/* The client certificate the operator and the router present to node agents. */}}
{{- define "turgon.agentClientArgs" -}}
- --agent-ca-file=/etc/turgon/agent-client/ca.crt
- --agent-client-cert-file=/etc/turgon/agent-client/tls.crt
- --agent-client-key-file=/etc/turgon/agent-client/tls.key
{{- end }}

{{/* An environment variable from a key of an external Secret. */}}
{{- define "turgon.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.name }}
      key: {{ .ref.key }}
{{- end }}

{{/* Prometheus' namespaces may reach the metrics ports when monitoring is on. */}}
{{- define "turgon.metricsFrom" -}}
{{- if .Values.monitoring.serviceMonitor.enabled }}
- namespaceSelector:
    {{- toYaml .Values.monitoring.scrapeFromNamespaceSelector | nindent 4 }}
{{- end }}
{{- end }}
