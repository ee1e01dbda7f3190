#!/usr/bin/env bash
# The zero-service start, for real (issue #16): in a fresh network namespace (nothing on 5432
# or 6379 is reachable) with DATABASE_URL and REDIS_URL unset, `npm start` comes up on the
# embedded PostgreSQL, the README's first experiment gives a verdict, Ctrl-C (SIGINT to the
# process group) exits 0 with no PostgreSQL left, and a second start still has the data. The
# queues run on BullMQ's Postgres backend and the change bus on LISTEN/NOTIFY (no Redis).
# Once as root and once as an unprivileged user (nobody), each on a copy of the tree in /tmp.
# Run by .ci/run; needs root (unshare -n, setpriv). 5.5-6 minutes on 2 cores shared with other
# jobs (load 8-12; five starts, the first with a full build of the copy): less on an idle machine.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${VERDICT_SMOKE_NETNS:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "embedded-smoke: needs root (unshare -n, setpriv)" >&2; exit 1; }
  exec unshare -n env VERDICT_SMOKE_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
unset DATABASE_URL REDIS_URL VERDICT_ADMIN_KEY TEST_POSTGRES_URL TEST_REDIS_URL QUEUE_BACKEND VERDICT_DATA_DIR NODE_ENV

WORK="$(mktemp -d /tmp/verdict-smoke-XXXXXX)"
chmod 755 "$WORK"
APP_PID=""
SDK=""
cleanup() {
  [ -n "$APP_PID" ] && kill -KILL -- "-$APP_PID" 2>/dev/null || true
  for lock in "$WORK"/*/.verdict/postgres/postmaster.pid; do
    [ -f "$lock" ] && kill -INT "$(head -n 1 "$lock")" 2>/dev/null || true
  done
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

API=http://localhost:3000
fail() { echo "embedded-smoke: FAILED: $*" >&2; [ -f "$WORK/app.log" ] && tail -n 40 "$WORK/app.log" >&2; exit 1; }
json() { node -e 'let s="";process.stdin.on("data",(c)=>s+=c).on("end",()=>{const v=JSON.parse(s);console.log(String(eval("v"+process.argv[1])))})' "$1"; }

# A copy of the tree $1 (node_modules linked) in $2, world-readable and -writable. The second copy is
# made from the first after its build: same depth, same build info, so its build is incremental.
copy_tree() {
  local source="$1" dest="$2"
  mkdir -p "$dest"
  tar -C "$source" --exclude=./node_modules --exclude=./.git --exclude=./.verdict --exclude=./.home --exclude=./coverage -cf - . | tar -C "$dest" -xf -
  ln -s "$(readlink -f "$ROOT/node_modules")" "$dest/node_modules"
  mkdir -p "$dest/.home"
  chmod -R a+rwX "$dest"
}

# npm start as $1 (root or nobody) in $2, in its own process group, like a terminal's foreground job.
start_app() {
  local user="$1" dir="$2"
  local as=()
  [ "$user" = root ] || as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups)
  set -m
  (cd "$dir" && exec "${as[@]}" env HOME="$dir/.home" npm_config_cache="$dir/.home/.npm" npm start) >"$WORK/app.log" 2>&1 &
  APP_PID=$!
  set +m
  local started=$SECONDS
  until curl -sf "$API/health" >/dev/null; do
    kill -0 "$APP_PID" 2>/dev/null || fail "npm start exited before answering"
    [ $((SECONDS - started)) -lt 300 ] || fail "npm start did not answer within 300 s"
    sleep 0.2
  done
  echo "embedded-smoke: [$user] up in $((SECONDS - started)) s"
}

# Ctrl-C: SIGINT to the whole foreground process group; exit code 0, no PostgreSQL of this data folder left.
stop_app() {
  local user="$1" dir="$2" code=0
  kill -INT -- "-$APP_PID"
  wait "$APP_PID" || code=$?
  APP_PID=""
  [ "$code" = 0 ] || fail "[$user] npm start exited $code after SIGINT"
  if pgrep -f -- "-D $dir/.verdict/postgres" >/dev/null; then fail "[$user] a PostgreSQL process is still running"; fi
  echo "embedded-smoke: [$user] Ctrl-C: exit 0, no PostgreSQL left"
}

# The README's first experiment: create, start, key, assign, outcomes, results.
first_experiment() {
  local user="$1" dir="$2"
  local admin; admin="Authorization: Bearer $(cat "$dir/.verdict/admin-key")"
  local code
  code=$(curl -s -o "$WORK/create.json" -w '%{http_code}' -X POST $API/v1/experiments -H "$admin" -H 'content-type: application/json' -d '{
    "key": "chat-8b-vs-70b", "name": "Llama 8B q4 instead of 70B", "unitType": "user",
    "variants": [
      {"key": "big", "weight": 1, "isControl": true, "config": {"model": "llama-3.1-70b"}, "pricing": {"inputPer1M": 0.9, "outputPer1M": 0.9}},
      {"key": "small", "weight": 1, "config": {"model": "llama-3.1-8b-q4"}, "pricing": {"inputPer1M": 0.2, "outputPer1M": 0.2}}
    ],
    "metrics": {"primary": {"name": "success_rate", "goal": "non_inferior", "margin": 0.02},
                "guardrails": [{"name": "latency_p95", "maxRelativeIncrease": 0.1}]},
    "stats": {"alpha": 0.05, "sequential": true, "plannedUnits": 20000}}')
  [ "$code" = 201 ] || fail "[$user] create answered $code: $(cat "$WORK/create.json")"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST $API/v1/experiments/chat-8b-vs-70b/start -H "$admin")
  [ "${code:0:1}" = 2 ] || fail "[$user] start answered $code"
  local sdk_key
  sdk_key=$(curl -sf -X POST $API/v1/api-keys -H "$admin" -H 'content-type: application/json' -d '{"name": "chat backend", "scope": "sdk"}' | json .key)
  SDK="Authorization: Bearer $sdk_key"
  local sdk="$SDK"
  local variant
  variant=$(curl -sf -X POST $API/v1/assign -H "$sdk" -H 'content-type: application/json' -d '{"experiment": "chat-8b-vs-70b", "unitId": "user-42"}' | json .variant)
  [ "$variant" = big ] || [ "$variant" = small ] || fail "[$user] assign gave '$variant'"
  local accepted
  accepted=$(curl -sf -X POST $API/v1/outcomes -H "$sdk" -H 'content-type: application/json' -d '{"events": [
    {"id": "evt-1", "experiment": "chat-8b-vs-70b", "unitId": "user-42", "latencyMs": 840, "ttftMs": 120, "inputTokens": 900, "outputTokens": 250, "success": true, "score": 0.9}]}' | json .accepted)
  [ "$accepted" = 1 ] || fail "[$user] outcomes accepted '$accepted'"
  wait_for_events "$user" "$admin" 1
}

# The results count $3 events once the worker wrote them; they carry a decision.
wait_for_events() {
  local user="$1" admin="$2" expected="$3" events="" started=$SECONDS
  while [ $((SECONDS - started)) -lt 120 ]; do
    curl -sf $API/v1/experiments/chat-8b-vs-70b/results -H "$admin" >"$WORK/results.json" || true
    events=$(json '.variants.reduce((n, v) => n + v.events, 0)' <"$WORK/results.json" 2>/dev/null || echo 0)
    [ "$events" = "$expected" ] && break
    sleep 0.5
  done
  [ "$events" = "$expected" ] || fail "[$user] the results counted $events events, not $expected: $(cat "$WORK/results.json")"
  echo "embedded-smoke: [$user] results: $expected event(s), decision $(json .decision.action <"$WORK/results.json")"
}

# An acknowledged event survives a SIGKILL of the whole process group (PostgreSQL, in its own
# group, is orphaned): the next start stops the orphan and the event is counted.
kill_and_restart() {
  local user="$1" dir="$2" admin="Authorization: Bearer $(cat "$2/.verdict/admin-key")"
  local accepted
  accepted=$(curl -sf -X POST $API/v1/outcomes -H "$SDK" -H 'content-type: application/json' -d '{"events": [
    {"id": "evt-2", "experiment": "chat-8b-vs-70b", "unitId": "user-43", "latencyMs": 700, "success": false}]}' | json .accepted)
  [ "$accepted" = 1 ] || fail "[$user] outcomes accepted '$accepted'"
  kill -KILL -- "-$APP_PID"
  wait "$APP_PID" 2>/dev/null || true
  APP_PID=""
  echo "embedded-smoke: [$user] SIGKILL of the process group right after the 202"
  start_app "$user" "$dir"
  wait_for_events "$user" "$admin" 2
  stop_app "$user" "$dir"
}

run_as() {
  local user="$1" source="$2" dir="$WORK/$1"
  copy_tree "$source" "$dir"
  start_app "$user" "$dir"
  first_experiment "$user" "$dir"
  stop_app "$user" "$dir"
  [ "$(stat -c %a "$dir/.verdict/admin-key")" = 600 ] || fail "[$user] admin-key is not mode 600"
  [ "$(stat -c %a "$dir/.verdict/postgres.password")" = 600 ] || fail "[$user] postgres.password is not mode 600"
  # A second start has the data: the experiment and its event.
  start_app "$user" "$dir"
  wait_for_events "$user" "Authorization: Bearer $(cat "$dir/.verdict/admin-key")" 1
  if [ "$user" = root ]; then kill_and_restart "$user" "$dir"; else stop_app "$user" "$dir"; fi
}

run_as root "$ROOT"
run_as nobody "$WORK/root"
echo "embedded-smoke: OK"
