{{/* The chart's name, and the full name of every object it renders. */}}
{{- define "zeebe-authz.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zeebe-authz.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "zeebe-authz.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zeebe-authz.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zeebe-authz.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "zeebe-authz.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: zeebe-authz
{{- end }}

{{- define "zeebe-authz.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zeebe-authz.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Where the ConfigMap, the policies and the CA bundle are mounted, side by side. */}}
{{- define "zeebe-authz.configDir" -}}/etc/zeebe-authz{{- end }}

{{/*
The SHA-256 of what the Istio objects are generated from: the realms and the policies,
as Go's encoding/json writes them (sorted keys). `zeebe-authz istio --helm-values` computes the
same digest of the values it writes.
*/}}
{{- define "zeebe-authz.istioSourceSha256" -}}
{{- dict "policies" .Values.policies "realms" .Values.realms | toJson | sha256sum }}
{{- end }}

{{/*
The binary's config file, from the values: listen addresses from `ports`, the realms with their
policy paths relative to the config (every file is mounted in one folder), and only the
settings that are set (empty ones keep the binary's defaults).
*/}}
{{- define "zeebe-authz.config" -}}
{{- $realms := list }}
{{- $policyKeys := list }}
{{- range $i, $p := .Values.policies }}
{{- if or (not $p.name) (not $p.text) }}
{{- fail (printf "policies[%d] needs a name (its file name) and a text" $i) }}
{{- end }}
{{- if or (has $p.name $policyKeys) (has $p.name (list "config.yaml" "ca-bundle.pem")) }}
{{- fail (printf "policies[%d].name %q is used twice or reserved" $i $p.name) }}
{{- end }}
{{- $policyKeys = append $policyKeys $p.name }}
{{- end }}
{{- range $i, $r := .Values.realms }}
{{- range $k := list "name" "issuer" "audiences" "hosts" "policy" }}
{{- if not (get $r $k) }}
{{- fail (printf "realms[%d].%s is required" $i $k) }}
{{- end }}
{{- end }}
{{- range $k, $_ := $r }}
{{- if not (has $k (list "name" "issuer" "audiences" "hosts" "policy" "jwksUri" "permissionsClaim" "tenantsClaim" "tenantsPrefix" "restBasePath" "mode" "tokenType" "engineAuthorizations")) }}
{{- fail (printf "realms[%d]: unknown key %q" $i $k) }}
{{- end }}
{{- end }}
{{- if and (not $.Values.policiesConfigMap) (not (has $r.policy $policyKeys)) }}
{{- fail (printf "realms[%d].policy %q is not the name of one of policies (%s)" $i $r.policy (join ", " $policyKeys)) }}
{{- end }}
{{- $realm := dict "name" $r.name "issuer" $r.issuer "audiences" $r.audiences "hosts" $r.hosts "policy" $r.policy }}
{{- with $r.jwksUri }}{{ $_ := set $realm "jwks_uri" . }}{{ end }}
{{- with $r.permissionsClaim }}{{ $_ := set $realm "permissions_claim" . }}{{ end }}
{{- with $r.tenantsClaim }}{{ $_ := set $realm "tenants_claim" . }}{{ end }}
{{- with $r.tenantsPrefix }}{{ $_ := set $realm "tenants_prefix" . }}{{ end }}
{{- with $r.restBasePath }}{{ $_ := set $realm "rest_base_path" . }}{{ end }}
{{- with $r.mode }}
{{- if not (has . (list "enforce" "dry-run")) }}
{{- fail (printf "realms[%d].mode must be enforce or dry-run, not %q" $i .) }}
{{- end }}
{{- $_ := set $realm "mode" . }}
{{- end }}
{{- with $r.tokenType }}
{{- if not (has . (list "required" "optional")) }}
{{- fail (printf "realms[%d].tokenType must be required or optional, not %q" $i .) }}
{{- end }}
{{- $_ := set $realm "token_type" . }}
{{- end }}
{{- if hasKey $r "engineAuthorizations" }}
{{- if not (kindIs "bool" $r.engineAuthorizations) }}
{{- fail (printf "realms[%d].engineAuthorizations must be true or false, not %v" $i $r.engineAuthorizations) }}
{{- end }}
{{- $_ := set $realm "engine_authorizations" $r.engineAuthorizations }}
{{- end }}
{{- $realms = append $realms $realm }}
{{- end }}
{{- $config := dict "listen" (dict "check" (printf "0.0.0.0:%d" (int .Values.ports.check)) "admin" (printf "0.0.0.0:%d" (int .Values.ports.admin))) "realms" $realms }}
{{- $jwks := dict }}
{{- with .Values.jwks }}
{{- with .refreshInterval }}{{ $_ := set $jwks "refresh_interval" . }}{{ end }}
{{- with .refetchCooldown }}{{ $_ := set $jwks "refetch_cooldown" . }}{{ end }}
{{- with .fetchTimeout }}{{ $_ := set $jwks "fetch_timeout" . }}{{ end }}
{{- with .keysMaxAge }}{{ $_ := set $jwks "keys_max_age" . }}{{ end }}
{{- end }}
{{- if include "zeebe-authz.caBundleSource" . }}{{ $_ := set $jwks "ca_bundle" "ca-bundle.pem" }}{{ end }}
{{- if $jwks }}{{ $_ := set $config "jwks" $jwks }}{{ end }}
{{- $token := dict }}
{{- with .Values.token }}
{{- with .leeway }}{{ $_ := set $token "leeway" . }}{{ end }}
{{- with .maxBytes }}{{ $_ := set $token "max_bytes" (int64 .) }}{{ end }}
{{- with .cacheMaxBytes }}{{ $_ := set $token "cache_max_bytes" (int64 .) }}{{ end }}
{{- with .cacheMaxTtl }}{{ $_ := set $token "cache_max_ttl" . }}{{ end }}
{{- end }}
{{- if $token }}{{ $_ := set $config "token" $token }}{{ end }}
{{- $server := dict }}
{{- with .Values.server }}
{{- with .maxConnections }}{{ $_ := set $server "max_connections" (int64 .) }}{{ end }}
{{- with .headerTimeout }}{{ $_ := set $server "header_timeout" . }}{{ end }}
{{- with .idleTimeout }}{{ $_ := set $server "idle_timeout" . }}{{ end }}
{{- with .keepaliveInterval }}{{ $_ := set $server "keepalive_interval" . }}{{ end }}
{{- with .keepaliveTimeout }}{{ $_ := set $server "keepalive_timeout" . }}{{ end }}
{{- end }}
{{- if $server }}{{ $_ := set $config "server" $server }}{{ end }}
{{- $headers := dict }}
{{- with .Values.identityHeaders }}
{{- with .subject }}{{ $_ := set $headers "subject" . }}{{ end }}
{{- with .clientId }}{{ $_ := set $headers "client_id" . }}{{ end }}
{{- with .realm }}{{ $_ := set $headers "realm" . }}{{ end }}
{{- with .send }}
{{- if not (has . (list "all" "subject" "none")) }}
{{- fail (printf "identityHeaders.send must be all, subject or none, not %q" .) }}
{{- end }}
{{- $_ := set $headers "send" . }}
{{- end }}
{{- end }}
{{- if $headers }}{{ $_ := set $config "identity_headers" $headers }}{{ end }}
{{- with .Values.dynamicMetadata }}
{{- with .send }}
{{- if not (has . (list "all" "denies" "none")) }}
{{- fail (printf "dynamicMetadata.send must be all, denies or none, not %q" .) }}
{{- end }}
{{- $_ := set $config "dynamic_metadata" (dict "send" .) }}
{{- end }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* "inline", "secret", "configMap" or "" (no CA bundle); at most one source. */}}
{{- define "zeebe-authz.caBundleSource" -}}
{{- $ca := .Values.jwks.caBundle | default dict }}
{{- $sources := list }}
{{- if $ca.inline }}{{ $sources = append $sources "inline" }}{{ end }}
{{- if $ca.secretName }}{{ $sources = append $sources "secret" }}{{ end }}
{{- if $ca.configMapName }}{{ $sources = append $sources "configMap" }}{{ end }}
{{- if gt (len $sources) 1 }}
{{- fail "jwks.caBundle: set at most one of inline, secretName, configMapName" }}
{{- end }}
{{- first $sources | default "" }}
{{- end }}
