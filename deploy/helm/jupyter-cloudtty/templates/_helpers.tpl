{{- define "cloudtty.name" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cloudtty.labels" -}}
app.kubernetes.io/name: jupyter-cloudtty
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "cloudtty.selector" -}}
app.kubernetes.io/name: jupyter-cloudtty
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "cloudtty.namespaces" -}}
{{- $all := list .Release.Namespace -}}
{{- range .Values.namespaces }}{{ $all = append $all . }}{{ end -}}
{{- $all | uniq | toJson -}}
{{- end -}}
