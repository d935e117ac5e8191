#!/usr/bin/env bash
# `mailtally serve --workers N` on SQLite (issue 13): echo and stats_summary
# requests/s with 1, 2 and 4 worker processes on one store, in one run.
#
#   bash bench/workers.sh
#
# Builds the demo platform under bench/out/, then for each worker count serves
# it (bench/serve.sh, WORKERS=N) and drives it with wrk and bench/post.lua
# (every answer checked, see CHECK): echo, then stats_summary domain example.com by day
# with PASSWORD credentials (each worker verifies the password once, then
# serves it from its own cache after one point read of the name's credential
# version a request).  Target: 2 workers ≥ 1.6x one worker's stats_summary
# requests/s on a 2-core machine.  wrk runs on the same machine.
#
# Every answer is checked, one of two ways (CHECK):
# - "metrics" (the default): wrk hands no answer to Lua (CHECK_BODY=0); the
#   server runs with --metrics-port, and the method's answers counted by every
#   worker (bench/metrics_sum.py, before and after) must all be "ok" and at
#   least as many as wrk's.  wrk's Lua check costs ~70 µs of wrk's CPU a
#   request, on the two cores the workers need (bench/RESULTS.md).
# - "lua": bench/post.lua looks for the expected text in every answer.
#
# Settings (environment): DURATION (10s), CONNECTIONS (64), THREADS (2),
# WORKER_COUNTS ("1 2 4"), CHECK (metrics).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WORKER_COUNTS=${WORKER_COUNTS:-"1 2 4"}
CHECK=${CHECK:-metrics}

command -v wrk >/dev/null || { echo "workers.sh: needs wrk (apt-get install -y wrk)" >&2; exit 1; }
# shellcheck source=bench/serve.sh
. bench/serve.sh
demo_out workers

CREDS='"credentials":{"user":"admin@example.com","password":"demo-password"}'
RUNS=(
    'echo|echo|{"hello":"world"}|"hello":"world"'
    "stats_summary domain by day|stats_summary|{$CREDS,\"type\":\"domain\",\"object\":\"example.com\",\"by\":\"day\"}|\"summary\":{\""
)
# CPU ticks (user + system) of the server: the supervisor and its workers
server_ticks() {
    local total=0 pid
    for pid in $SERVER_PID $(pgrep -P "$SERVER_PID" || true); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}
HZ=$(getconf CLK_TCK)

RESULTS="$OUT/results.txt"
: >"$RESULTS"
failed=0
# N consecutive free loopback ports: the workers' own /metrics ports
free_ports() {
    "$BIN/python" - "$1" <<'PY'
import socket, sys
n = int(sys.argv[1])
while True:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        first = s.getsockname()[1]
    try:
        for p in range(first, first + n):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(first)
    break
PY
}

for workers in $WORKER_COUNTS; do
    serve_args=""
    if [[ $CHECK == metrics ]]; then
        metrics_port=$(free_ports "$workers")
        serve_args="--metrics-port $metrics_port"
    fi
    SERVE_ARGS=$serve_args WORKERS=$workers start_server "$DB" "$OUT/server-$workers.log" 600
    WORKERS=$workers wait_workers
    echo "workers.sh: $workers worker(s) on $URL" >&2
    for run in "${RUNS[@]}"; do
        IFS='|' read -r label method body expect <<<"$run"
        # a few connections first, so that most workers have checked the password
        for _ in $(seq $((workers * 3))); do
            curl -s -X POST "$URL/$method" -d "$body" >/dev/null
        done
        if [[ $CHECK == metrics ]]; then
            read -r ok0 bad0 < <("$BIN/python" bench/metrics_sum.py "$method" "$metrics_port" "$workers")
        fi
        ticks=$(server_ticks)
        CHECK_BODY=$([[ $CHECK == metrics ]] && echo 0 || echo 1) BODY=$body EXPECT=$expect \
            /usr/bin/time -f "%U %S" -o "$OUT/wrk.cpu" \
            wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
            -s bench/post.lua "$URL/$method" >"$OUT/wrk.out"
        wrk_cpu=$(awk '{printf "%.1f", $1 + $2}' "$OUT/wrk.cpu")
        ticks=$(($(server_ticks) - ticks))
        cat "$OUT/wrk.out" >>"$OUT/wrk.txt"
        read -r _ rps p50 p99 requests non200 unexpected errors < <(grep '^RESULT ' "$OUT/wrk.out")
        if [[ $CHECK == metrics ]]; then
            read -r ok1 bad1 < <("$BIN/python" bench/metrics_sum.py "$method" "$metrics_port" "$workers")
            # every answer the workers gave was ok, and wrk's were among them
            if ((bad1 - bad0 > 0 || ok1 - ok0 < requests)); then
                unexpected=$((unexpected + bad1 - bad0 + (ok1 - ok0 < requests ? requests - ok1 + ok0 : 0)))
            fi
            echo "workers.sh: $label: wrk $requests answers; the workers counted $((ok1 - ok0)) ok, $((bad1 - bad0)) not" >&2
        fi
        cpu_us=$(awk -v t="$ticks" -v hz="$HZ" -v n="$requests" 'BEGIN {printf "%.0f", t / hz / n * 1e6}')
        if ((non200 + unexpected + errors > 0)); then
            echo "workers.sh: $label: $non200 non-200, $unexpected unexpected, $errors errors" >&2
            failed=1
        fi
        printf '%s|%s|%s|%s|%s|%s|%s\n' "$workers" "$label" "$rps" "$p50" "$p99" "$cpu_us" "$wrk_cpu" >>"$RESULTS"
    done
    stop_server
done

echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- machine: $(nproc) CPUs; wrk -t$THREADS -c$CONNECTIONS -d$DURATION on the same machine; answers checked by $CHECK"
echo
echo "| workers | request | requests/s | p50 ms | p99 ms | x one worker | server CPU µs a request | wrk's CPU s |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
awk -F'|' '
    { w[NR] = $1; label[NR] = $2; rps[NR] = $3; p50[NR] = $4; p99[NR] = $5; cpu[NR] = $6; wrk[NR] = $7
      if ($1 == 1) one[$2] = $3 }
    END {
        for (i = 1; i <= NR; i++)
            printf "| %s | %s | %.0f | %.2f | %.2f | %.2f | %s | %s |\n", w[i], label[i], rps[i], p50[i], p99[i], rps[i] / one[label[i]], cpu[i], wrk[i]
    }' "$RESULTS"
rm -f "$OUT"/demo.sqlite3*
if ((failed)); then
    echo "workers.sh: some requests failed; the figures above do not count" >&2
    exit 1
fi
