#!/usr/bin/env bash
# `serve` after a sweep of many different users' stats_summary (issue 9): bench/scale.sh's
# step 6, runnable on its own.
#
#   bash bench/sweep.sh STORE PLATFORM_JSON
#
# STORE is a store file (or sqlite:/// URL) — it is written to: an operator `sweep` is
# added, and serve writes its auth counts; give it a copy.  PLATFORM_JSON is the
# platform.json `mailtally synth` wrote beside its logs (the accounts to ask for).
#
# Serves STORE with `mailtally serve` (WORKERS processes, default 1) on a free loopback port, asks
# once for a company summary (it pays the one argon2 check of the operator's password),
# then SWEEP_USERS (20,000) different users' stats_summary, user by day, each asked once
# (uncached), by 16 clients: `wrk -t2 -c16 -s bench/sweep.lua`.  Prints the latencies of
# those requests and the server's RSS after them (VmRSS) and at its peak (VmHWM), with
# the machine's load and the server's CPU time per request; SWEEP_TSV=FILE also writes
# them as one tab-separated line for
# bench/scale.sh: sweep, users, req/s, p50 ms, p99 ms, requests, failed, RSS KiB, peak KiB.
#
# Settings (environment): SWEEP_USERS (20000), SWEEP_SECONDS (300: wrk waits out its
# whole duration even when every thread has stopped; fewer requests than SWEEP_USERS
# in the output means it was too short), BIN (.venv/bin), KEEP=DIR keeps the server's
# log, wrk's output and /proc/PID/smaps_rollup there.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
SWEEP_USERS=${SWEEP_USERS:-20000}
SWEEP_SECONDS=${SWEEP_SECONDS:-300}

(($# == 2)) || { echo "usage: bench/sweep.sh STORE PLATFORM_JSON" >&2; exit 2; }
STORE=$1
PLATFORM=$2
[[ $STORE == sqlite:///* ]] && DB=$STORE || DB="sqlite:///$(realpath "$STORE")"
command -v wrk >/dev/null || { echo "sweep.sh: needs wrk (apt-get install -y wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "sweep.sh: needs curl" >&2; exit 1; }
[[ -x $BIN/mailtally ]] || { echo "sweep.sh: no $BIN/mailtally; run make venv" >&2; exit 1; }
[[ -f $PLATFORM ]] || { echo "sweep.sh: no $PLATFORM" >&2; exit 1; }

mkdir -p bench/out
WORK=${KEEP:-$(mktemp -d "$ROOT/bench/out/sweep.XXXXXX")}
mkdir -p "$WORK"
# shellcheck source=bench/serve.sh
. bench/serve.sh
trap 'stop_server; [[ -n ${KEEP:-} ]] || rm -rf "$WORK"' EXIT

# SWEEP_USERS accounts spread evenly over the platform's; its first company
COMPANY=$("$BIN/python" - "$PLATFORM" "$SWEEP_USERS" "$WORK/users.txt" <<'PY'
import json, sys
platform = json.load(open(sys.argv[1]))
users = [u["address"] for u in platform["users"]]
n = min(int(sys.argv[2]), len(users))
with open(sys.argv[3], "w") as out:
    out.write("\n".join(users[i * len(users) // n] for i in range(n)) + "\n")
print(platform["companies"][0]["name"])
PY
)
echo "sweep-password" | "$BIN/mailtally" operator add sweep --db "$DB" > /dev/null
start_server "$DB" "$WORK/server.log" 300
wait_workers
CREDS='"credentials":{"user":"sweep","password":"sweep-password"}'
curl -s -X POST "$URL/stats_summary" -H 'Content-Type: application/json' \
    -d "{$CREDS,\"type\":\"company\",\"object\":\"$COMPANY\",\"by\":\"day\"}" \
    | grep -q '"success":true' || { echo "sweep.sh: serve does not answer" >&2; cat "$WORK/server.log" >&2; exit 1; }
# the server's processes: itself, and with WORKERS > 1 its workers (uvicorn's
# supervisor is SERVER_PID); RSS, peaks and CPU are summed over them
server_pids() { echo "$SERVER_PID" $(pgrep -P "$SERVER_PID" || true); }
status_kib() {  # the sum of a /proc/PID/status field (kB) over the server's processes
    local pid total=0 v
    for pid in $(server_pids); do
        v=$(awk -v f="$1:" '$1 == f {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
rss_before=$(status_kib VmRSS)
cpu_ticks() {  # the server's user + system CPU time so far, in clock ticks
    local pid total=0 v
    for pid in $(server_pids); do
        v=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}' || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
cpu_before=$(cpu_ticks)
load=$(cut -d' ' -f1 /proc/loadavg)
# how wrk's 16 keep-alive connections spread over the workers (the workers share one
# listening socket, and the first to wake accepts all that are waiting): counted 3 s in
(sleep 3; for pid in $(server_pids); do
    n=$(ss -tnpH state established 2>/dev/null | grep -c "pid=$pid," || true)
    ((n == 0)) || printf '%s ' "$n"
done) > "$WORK/split.txt" &
split_pid=$!
USERS=$WORK/users.txt CREDS=$CREDS THREADS=2 wrk -t2 -c16 -d"$SWEEP_SECONDS"s --latency \
    -s bench/sweep.lua "$URL/stats_summary" > "$WORK/wrk.out"
read -r _ rps p50 p99 requests non200 unexpected errors < <(grep '^RESULT ' "$WORK/wrk.out")
wait "$split_pid" || true
split=$(cat "$WORK/split.txt")
cpu_after=$(cpu_ticks)
rss_now=$(status_kib VmRSS)
rss_peak=$(status_kib VmHWM)  # (with workers: the sum of each one's peak)
[[ -z ${KEEP:-} ]] || cat "/proc/$SERVER_PID/smaps_rollup" "/proc/$SERVER_PID/status" > "$WORK/memory.txt"
load_after=$(cut -d' ' -f1 /proc/loadavg)
failed=$((non200 + unexpected + errors))
[[ -z ${SWEEP_TSV:-} ]] || printf 'sweep\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$SWEEP_USERS" "$rps" \
    "$p50" "$p99" "$requests" "$failed" "$rss_now" "$rss_peak" > "$SWEEP_TSV"
printf 'sweep: %s users asked once each, user by day, by 16 clients (wrk -t2 -c16): ' "$SWEEP_USERS"
printf 'uncached p50 %s ms, p99 %s ms (%s requests, %s failed); ' "$p50" "$p99" "$requests" "$failed"
# the server's CPU time per request: what load on the machine changes least
awk -v t=$((cpu_after - cpu_before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
    'BEGIN { printf "serve CPU %.2f ms a request\n", t * 1000 / hz / n }'
printf 'serve RSS: %d MB before the sweep, %d MB after it, %d MB at its peak (load %s then %s)\n' \
    $((rss_before / 1024)) $((rss_now / 1024)) $((rss_peak / 1024)) "$load" "$load_after"
echo "wrk's connections per server process: ${split:-?}"
