{{/*
Names, labels, the image, the secrets and the settings every template shares.
*/}}

{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "berth.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "berth.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The workloads of the one image, in a fixed order. key: the values key; name: the
suffix of its objects and its container name; args: what the image runs; addrVar: the
variable of its listen address.
*/}}
{{- define "berth.components" -}}
clock: {name: clock, args: [serve, clock], addrVar: BERTH_CLOCK_ADDR, http: true}
users: {name: users, args: [serve, users], addrVar: BERTH_USERS_ADDR, http: true}
rates: {name: rates, args: [serve, rates], addrVar: BERTH_RATES_ADDR, http: true}
kv: {name: kv, args: [serve, kv], addrVar: BERTH_KV_ADDR, http: true}
multivac: {name: multivac, args: [serve, multivac], addrVar: BERTH_MULTIVAC_ADDR, http: true}
multivacWorker: {name: multivac-worker, args: [worker, multivac], addrVar: BERTH_MULTIVAC_WORKER_ADDR, http: false}
{{- end -}}

{{- define "berth.componentOrder" -}}
[clock, users, rates, kv, multivac, multivacWorker]
{{- end -}}

{{/* The keys of the enabled workloads, in order (a YAML list). */}}
{{- define "berth.enabledComponents" -}}
{{- $out := list -}}
{{- range $key := include "berth.componentOrder" . | fromYamlArray -}}
{{- if (index $.Values $key).enabled -}}
{{- $out = append $out $key -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Labels. Call with (dict "ctx" $ "component" NAME). */}}
{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "berth.labels" -}}
helm.sh/chart: {{ include "berth.chart" .ctx }}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: berth
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Every pod of the release carries these (NetworkPolicy default deny selects them). */}}
{{- define "berth.releaseSelector" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The one image: repository@digest when a digest is set, else repository:tag. */}}
{{- define "berth.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "berth.imagePullPolicy" -}}
{{- if .Values.image.pullPolicy -}}
{{- .Values.image.pullPolicy -}}
{{- else if .Values.image.digest -}}
IfNotPresent
{{- else -}}
Always
{{- end -}}
{{- end -}}

{{/* An image of a dev store: (dict "image" .Values.postgresql.image). */}}
{{- define "berth.storeImage" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository .image.tag -}}
{{- end -}}
{{- end -}}

{{/*
Pod Security "restricted" for every pod: non-root, a fixed uid, RuntimeDefault
seccomp. Call with (dict "uid" N "gid" N).
*/}}
{{- define "berth.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
fsGroup: {{ .gid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "berth.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* terminationGracePeriodSeconds: larger than preStop sleep + shutdown delay + drain. */}}
{{- define "berth.terminationGrace" -}}
{{- $need := add .Values.lifecycle.preStopSleepSeconds .Values.config.shutdownDelaySeconds .Values.config.drainTimeoutSeconds -}}
{{- $set := .Values.lifecycle.terminationGracePeriodSeconds -}}
{{- if kindIs "invalid" $set -}}
{{- add $need 10 -}}
{{- else if le (int $set) (int $need) -}}
{{- fail (printf "lifecycle.terminationGracePeriodSeconds (%v) must be larger than lifecycle.preStopSleepSeconds + config.shutdownDelaySeconds + config.drainTimeoutSeconds (%v)" $set $need) -}}
{{- else -}}
{{- $set -}}
{{- end -}}
{{- end -}}

{{/*
Secrets. The values are resolved once per rendering and remembered in
.Values.__berthResolved, so that every template (the Secrets, their checksums, the
URLs derived from the dev stores' passwords) sees the same ones. Order: the value
given in values.yaml; else the one already in the cluster (lookup: kept across
upgrades; `helm template` sees none); else a new random one. URLs of the services
default to the dev stores' when those are enabled.
*/}}
{{- define "berth.resolved" -}}
{{- if not (hasKey .Values "__berthResolved") -}}
{{- $full := include "berth.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $app := lookup "v1" "Secret" $ns (printf "%s-secrets" $full) | default dict -}}
{{- $pg := lookup "v1" "Secret" $ns (printf "%s-postgresql" $full) | default dict -}}
{{- $rd := lookup "v1" "Secret" $ns (printf "%s-redis" $full) | default dict -}}
{{- $r := dict -}}
{{- $old := dig "data" "api-tokens" "" $app -}}
{{- $_ := set $r "api-tokens" (.Values.secrets.apiTokens | default (ternary (b64dec $old) (randAlphaNum 48) (ne $old ""))) -}}
{{- range $key, $val := dict "postgres_password" .Values.postgresql.auth.postgresPassword "postgres_users_password" .Values.postgresql.auth.usersPassword "postgres_rates_password" .Values.postgresql.auth.ratesPassword "postgres_multivac_password" .Values.postgresql.auth.multivacPassword -}}
{{- $old := dig "data" $key "" $pg -}}
{{- $_ := set $r $key ($val | default (ternary (b64dec $old) (randAlphaNum 32) (ne $old ""))) -}}
{{- end -}}
{{- range $key, $val := dict "redis_kv_password" .Values.redis.auth.kvPassword "redis_multivac_password" .Values.redis.auth.multivacPassword "redis_healthcheck_password" .Values.redis.auth.healthcheckPassword "redis_admin_password" .Values.redis.auth.adminPassword -}}
{{- $old := dig "data" $key "" $rd -}}
{{- $_ := set $r $key ($val | default (ternary (b64dec $old) (randAlphaNum 32) (ne $old ""))) -}}
{{- end -}}
{{- $pgHost := printf "%s-postgresql:5432" $full -}}
{{- $rdHost := printf "%s-redis:6379" $full -}}
{{- range $role := list "users" "rates" "multivac" -}}
{{- $given := index $.Values.secrets (printf "%sDatabaseUrl" $role) -}}
{{- $derived := ternary (printf "postgres://%s:%s@%s/%s" $role (index $r (printf "postgres_%s_password" $role)) $pgHost $role) "" $.Values.postgresql.enabled -}}
{{- $_ := set $r (printf "%s-database-url" $role) ($given | default $derived) -}}
{{- end -}}
{{- range $user := list "kv" "multivac" -}}
{{- $given := index $.Values.secrets (printf "%sRedisUrl" $user) -}}
{{- $derived := ternary (printf "redis://%s:%s@%s/0" $user (index $r (printf "redis_%s_password" $user)) $rdHost) "" $.Values.redis.enabled -}}
{{- $_ := set $r (printf "%s-redis-url" $user) ($given | default $derived) -}}
{{- end -}}
{{- $_ := set $r "rates-dump-url" .Values.secrets.ratesDumpUrl -}}
{{- $_ := set .Values "__berthResolved" $r -}}
{{- end -}}
{{- toYaml (index .Values "__berthResolved") -}}
{{- end -}}

{{- define "berth.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "berth.fullname" .)) -}}
{{- end -}}

{{/* The keys of the app Secret, in order. */}}
{{- define "berth.secretKeyOrder" -}}
[api-tokens, users-database-url, rates-database-url, multivac-database-url, kv-redis-url, multivac-redis-url, rates-dump-url]
{{- end -}}

{{/* data of the Secret the chart creates: the non-empty keys, base64. */}}
{{- define "berth.appSecretData" -}}
{{- $r := include "berth.resolved" . | fromYaml -}}
{{- range $key := include "berth.secretKeyOrder" . | fromYamlArray }}
{{- with index $r $key }}
{{ $key }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
checksum/secret: of the Secret the chart creates, or of the existing Secret's data
as the cluster holds it at upgrade time (lookup), so that rotating either and
running `helm upgrade` rolls the pods.
*/}}
{{- define "berth.secretChecksum" -}}
{{- if .Values.secrets.existingSecret -}}
{{- $s := lookup "v1" "Secret" .Release.Namespace .Values.secrets.existingSecret | default dict -}}
{{- printf "existing:%s:%s" .Values.secrets.existingSecret (toJson (dig "data" dict $s)) | sha256sum -}}
{{- else -}}
{{- include "berth.appSecretData" . | sha256sum -}}
{{- end -}}
{{- end -}}

{{/* Which of the app Secret's keys a workload reads: (dict "ctx" $ "key" KEY). */}}
{{- define "berth.componentSecretKeys" -}}
{{- $v := index .ctx.Values .key -}}
{{- $embedded := dig "embedded" "enabled" false $v -}}
{{- $keys := list -}}
{{- if eq .key "users" -}}
{{- $keys = list "api-tokens" -}}
{{- if not $embedded }}{{ $keys = append $keys "users-database-url" }}{{ end -}}
{{- else if eq .key "rates" -}}
{{- $keys = list "api-tokens" -}}
{{- if not $embedded }}{{ $keys = append $keys "rates-database-url" }}{{ end -}}
{{- else if eq .key "kv" -}}
{{- if $v.requireApiToken }}{{ $keys = append $keys "api-tokens" }}{{ end -}}
{{- if not $embedded }}{{ $keys = append $keys "kv-redis-url" }}{{ end -}}
{{- else if eq .key "multivac" -}}
{{- $keys = list "api-tokens" -}}
{{- if not $embedded }}{{ $keys = concat $keys (list "multivac-database-url" "multivac-redis-url") }}{{ end -}}
{{- else if eq .key "multivacWorker" -}}
{{- $keys = list "multivac-database-url" "multivac-redis-url" -}}
{{- else if eq .key "ratesLoad" -}}
{{- $keys = list "rates-database-url" -}}
{{- end -}}
{{- toYaml $keys -}}
{{- end -}}

{{/* The variable that names the file of each key (berth's NAME_FILE convention). */}}
{{- define "berth.secretFileVars" -}}
api-tokens: BERTH_API_TOKENS_FILE
users-database-url: BERTH_USERS_DATABASE_URL_FILE
rates-database-url: BERTH_RATES_DATABASE_URL_FILE
multivac-database-url: BERTH_MULTIVAC_DATABASE_URL_FILE
kv-redis-url: BERTH_KV_REDIS_URL_FILE
multivac-redis-url: BERTH_MULTIVAC_REDIS_URL_FILE
{{- end -}}

{{/*
The settings of one workload (its ConfigMap's data): (dict "ctx" $ "key" KEY). The
*_FILE variables naming the secret files are in the container's env instead: they
are wiring, not settings (and scanners take a ConfigMap key ending in TOKENS_FILE for
a secret).
*/}}
{{- define "berth.configData" -}}
{{- $ctx := .ctx -}}
{{- $v := index $ctx.Values .key -}}
{{- $c := index (include "berth.components" $ctx | fromYaml) .key -}}
{{- $d := dict
  "RUST_LOG" $ctx.Values.config.logLevel
  "BERTH_LOG_FORMAT" $ctx.Values.config.logFormat
  "BERTH_DATA_DIR" "/data"
  "BERTH_DRAIN_TIMEOUT" (printf "%ds" (int $ctx.Values.config.drainTimeoutSeconds))
  "BERTH_SHUTDOWN_DELAY" (printf "%ds" (int $ctx.Values.config.shutdownDelaySeconds))
  "BERTH_HEALTHCHECK_URL" (printf "http://127.0.0.1:%d/healthcheck" (int $v.port))
-}}
{{- $_ := set $d $c.addrVar (printf "0.0.0.0:%d" (int $v.port)) -}}
{{- if eq .key "multivac" -}}
{{- $_ := set $d "BERTH_MULTIVAC_WORKER" (ternary "never" "auto" (and $ctx.Values.multivacWorker.enabled (not $v.embedded.enabled))) -}}
{{- end -}}
{{- range $k, $val := $ctx.Values.config.env -}}
{{- $_ := set $d $k (toString $val) -}}
{{- end -}}
{{- range $k, $val := $v.env -}}
{{- $_ := set $d $k (toString $val) -}}
{{- end -}}
{{- toYaml $d -}}
{{- end -}}

{{/*
checkov skips that hold for every berth workload, each with its reason (checkov reads
`checkov.io/skipN: CHECK=reason` annotations of the object it scans).
*/}}
{{- define "berth.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_11=No CPU limit on purpose - a CPU limit throttles a latency-bound service under bursts; CPU requests reserve its share and memory is limited
{{- if not .Values.image.digest }}
checkov.io/skip2: CKV_K8S_43=The tag is the release version (immutable in the release pipeline); set image.digest to pin by digest
{{- end }}
{{- end -}}

{{/* Fails the rendering on combinations the chart refuses, naming the values. */}}
{{- define "berth.validate" -}}
{{- range $key := list "users" "rates" "kv" "multivac" -}}
{{- $v := index $.Values $key -}}
{{- if and $v.enabled $v.embedded.enabled -}}
{{- if ne (int $v.replicas) 1 -}}
{{- fail (printf "%s.embedded.enabled needs %s.replicas: 1 (SQLite on a ReadWriteOnce volume has one writer); got %v" $key $key $v.replicas) -}}
{{- end -}}
{{- if $v.autoscaling.enabled -}}
{{- fail (printf "%s.embedded.enabled cannot be combined with %s.autoscaling.enabled (one replica only)" $key $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.multivac.enabled .Values.multivac.embedded.enabled .Values.multivacWorker.enabled -}}
{{- fail "multivac.embedded.enabled runs the worker inside multivac: set multivacWorker.enabled: false" -}}
{{- end -}}
{{- if and .Values.ratesLoad.enabled (eq .Values.ratesLoad.source "configMap") (not .Values.ratesLoad.configMap.name) -}}
{{- fail "ratesLoad.source=configMap needs ratesLoad.configMap.name" -}}
{{- end -}}
{{- if and .Values.ratesLoad.enabled (eq .Values.ratesLoad.source "persistentVolumeClaim") (not .Values.ratesLoad.persistentVolumeClaim.claimName) -}}
{{- fail "ratesLoad.source=persistentVolumeClaim needs ratesLoad.persistentVolumeClaim.claimName" -}}
{{- end -}}
{{- if and .Values.ratesLoad.enabled (eq .Values.ratesLoad.source "url") (not .Values.secrets.existingSecret) (not .Values.secrets.ratesDumpUrl) -}}
{{- fail "ratesLoad.source=url needs secrets.ratesDumpUrl (or the rates-dump-url key of secrets.existingSecret)" -}}
{{- end -}}
{{- $_ := include "berth.terminationGrace" . -}}
{{- end -}}

{{/*
What an enabled service lacks to start: a list of "service: what to set" (NOTES.txt
prints it). Only knowable when the chart creates the Secret.
*/}}
{{- define "berth.missingStores" -}}
{{- $out := list -}}
{{- if not .Values.secrets.existingSecret -}}
{{- $r := include "berth.resolved" . | fromYaml -}}
{{- range $key := include "berth.enabledComponents" . | fromYamlArray -}}
{{- range $sk := include "berth.componentSecretKeys" (dict "ctx" $ "key" $key) | fromYamlArray -}}
{{- if not (index $r $sk) -}}
{{- $out = append $out (printf "%s needs %s" $key $sk) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml (uniq $out) -}}
{{- end -}}

{{/* Egress rules (one list item each) to the stores: the dev StatefulSet, or the external one. */}}
{{- define "berth.egressToPostgresql" -}}
{{- if .Values.postgresql.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "berth.selectorLabels" (dict "ctx" . "component" "postgresql") | nindent 10 }}
  ports:
    - {protocol: TCP, port: 5432}
{{- else -}}
- ports:
    - {protocol: TCP, port: {{ .Values.networkPolicy.externalPostgresql.port }}}
  {{- with .Values.networkPolicy.externalPostgresql.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}

{{- define "berth.egressToRedis" -}}
{{- if .Values.redis.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "berth.selectorLabels" (dict "ctx" . "component" "redis") | nindent 10 }}
  ports:
    - {protocol: TCP, port: 6379}
{{- else -}}
- ports:
    - {protocol: TCP, port: {{ .Values.networkPolicy.externalRedis.port }}}
  {{- with .Values.networkPolicy.externalRedis.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/* sha256 of the values of some resolved secrets: (dict "r" RESOLVED "keys" LIST). */}}
{{- define "berth.sumKeys" -}}
{{- $all := "" -}}
{{- range .keys -}}
{{- $all = printf "%s%s=%s\n" $all . (index $.r .) -}}
{{- end -}}
{{- $all | sha256sum -}}
{{- end -}}

{{/*
checkov skips of the dev stores: (dict "image" IMAGE-VALUES "what" NAME). Their
official images run as a low uid of their own.
*/}}
{{- define "berth.storeCheckovSkips" -}}
checkov.io/skip1: CKV_K8S_11=No CPU limit on purpose - a dev store; CPU requests reserve its share and memory is limited
checkov.io/skip2: CKV_K8S_40=The official {{ .what }} image runs as its own user, uid 999 (a low uid); still non-root, no capabilities, read-only root
{{- if not .image.digest }}
checkov.io/skip3: CKV_K8S_43=Dev store image pinned by tag; set its image.digest to pin by digest
{{- end }}
{{- end -}}

{{/* What the Redis pod runs from (its checksum/config): the deploy/redis files and its flags. */}}
{{- define "berth.redisConfig" -}}
{{- range list "redis.conf" "render-acl.sh" "entrypoint.sh" -}}
{{ $.Files.Get (printf "files/redis/%s" .) }}
{{- end -}}
maxmemory={{ .Values.redis.maxmemory }}
{{- end -}}

{{- define "berth.storePullPolicy" -}}
{{- if .image.pullPolicy -}}
{{- .image.pullPolicy -}}
{{- else if .image.digest -}}
IfNotPresent
{{- else -}}
Always
{{- end -}}
{{- end -}}
