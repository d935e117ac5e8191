#!/usr/bin/env bash
# The API benchmark of issue 2 (bench/RESULTS.md): `make bench`, or
#
#   bash bench/api.sh
#
# Builds the demo platform in a fresh directory under bench/out/, serves it with
# `mailtally serve` (one uvicorn worker) on a free loopback port, and drives it
# with wrk: echo, then stats_summary (company by month, domain by day, user by
# day) with PASSWORD credentials, then echo again — all against the same server
# in the same run.  Every request kind is first checked once with curl, and
# bench/post.lua checks every answer wrk gets (status 200 and the expected body).
# Then it times the cold (uncached) path with bench/summary_cold.py and prints
# everything as markdown.
#
# Settings (environment): DURATION (15s), CONNECTIONS (64), THREADS (2),
# COLD_CALLS (50); UVICORN_PLAIN=1 hides httptools and uvloop from the server so
# that uvicorn falls back to h11 and asyncio (to see what they bring).
# Targets: stats_summary ≥ 50% of echo's requests/s, p99 ≤ 25 ms.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
COLD_CALLS=${COLD_CALLS:-50}
TARGET_RATIO=0.50
TARGET_P99_MS=25

command -v wrk >/dev/null || { echo "api.sh: needs wrk (apt-get install -y wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "api.sh: needs curl" >&2; exit 1; }
[[ -x $BIN/mailtally ]] || { echo "api.sh: no $BIN/mailtally; run make venv" >&2; exit 1; }

# shellcheck source=bench/serve.sh
. bench/serve.sh
demo_out api

if [[ ${UVICORN_PLAIN:-0} == 1 ]]; then
    # uvicorn's "auto" picks httptools and uvloop when they import; make them not
    mkdir -p "$OUT/plain"
    for mod in httptools uvloop; do
        echo "raise ImportError('hidden by bench/api.sh UVICORN_PLAIN=1')" >"$OUT/plain/$mod.py"
    done
    export PYTHONPATH="$OUT/plain${PYTHONPATH:+:$PYTHONPATH}"
fi

start_server "$DB" "$OUT/server.log"
echo "api.sh: serving on $URL (pid $SERVER_PID)" >&2

CREDS='"credentials":{"user":"admin@example.com","password":"demo-password"}'
# label | method | body | string every answer must contain
RUNS=(
    'echo|echo|{"hello":"world"}|"hello":"world"'
    "stats_summary company by month|stats_summary|{$CREDS,\"type\":\"company\",\"object\":\"Example Hosting\",\"by\":\"month\"}|\"summary\":{\""
    "stats_summary domain by day|stats_summary|{$CREDS,\"type\":\"domain\",\"object\":\"example.com\",\"by\":\"day\"}|\"summary\":{\""
    "stats_summary user by day|stats_summary|{$CREDS,\"type\":\"user\",\"object\":\"alice@example.com\",\"by\":\"day\"}|\"summary\":{\""
    'echo (again)|echo|{"hello":"world"}|"hello":"world"'
)

# One curl per request kind first: the answer must be a success with the
# expected content (this also pays the one argon2 check of the password).
for run in "${RUNS[@]}"; do
    IFS='|' read -r label method body expect <<<"$run"
    status=$(curl -s -o "$OUT/check.json" -w '%{http_code}' -X POST "$URL/$method" \
        -H 'Content-Type: application/json' -d "$body")
    if [[ $status != 200 ]] || ! grep -qF '"success":true' "$OUT/check.json" \
        || ! grep -qF "$expect" "$OUT/check.json"; then
        echo "api.sh: $label: HTTP $status, answer: $(head -c 300 "$OUT/check.json")" >&2
        exit 1
    fi
done

RESULTS="$OUT/results.txt"
: >"$RESULTS"
failed=0
for run in "${RUNS[@]}"; do
    IFS='|' read -r label method body expect <<<"$run"
    echo "api.sh: wrk $label" >&2
    BODY=$body EXPECT=$expect wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s bench/post.lua "$URL/$method" >"$OUT/wrk.out"
    cat "$OUT/wrk.out" >>"$OUT/wrk.txt"
    # RESULT <req/s> <p50 ms> <p99 ms> <requests> <non-200> <unexpected body> <socket errors>
    read -r _ rps p50 p99 requests non200 unexpected errors < <(grep '^RESULT ' "$OUT/wrk.out")
    if ((non200 + unexpected + errors > 0)); then
        echo "api.sh: $label: $non200 non-200, $unexpected unexpected answers," \
            "$errors socket errors of $requests requests" >&2
        failed=1
    fi
    printf '%s|%s|%s|%s|%s\n' "$label" "$rps" "$p50" "$p99" "$requests" >>"$RESULTS"
done

# peak resident set of the server over the whole run (what `time -v` reports)
PEAK_RSS=$(awk '/^VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$SERVER_PID/status")
stop_server

VERSIONS=$("$BIN/python" - <<'EOF'
import platform
from importlib.metadata import version

def importable(name):  # what uvicorn's "auto" settings check
    try:
        __import__(name)
    except ImportError:
        return False
    return True

http = "httptools" if importable("httptools") else "h11"
loop = "uvloop" if importable("uvloop") else "asyncio"
print(f"Python {platform.python_version()}, uvicorn {version('uvicorn')} "
      f"(http={http}, loop={loop}, access log off), starlette {version('starlette')}")
EOF
)

echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "- software: $VERSIONS"
echo "- load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s bench/post.lua, loopback," \
    "one uvicorn worker, on the same machine as the server"
echo "- server peak RSS: $PEAK_RSS"
echo
echo "| request | requests/s | p50 ms | p99 ms | ratio to echo | target (≥ 50%, p99 ≤ ${TARGET_P99_MS} ms) |"
echo "|---|---:|---:|---:|---:|---|"
awk -F'|' -v ratio="$TARGET_RATIO" -v p99max="$TARGET_P99_MS" '
    { label[NR] = $1; rps[NR] = $2; p50[NR] = $3; p99[NR] = $4
      if ($1 ~ /^echo/) { echo_sum += $2; echo_n++ } }
    END {
        echo_rps = echo_sum / echo_n   # the mean of the two echo runs
        for (i = 1; i <= NR; i++) {
            r = rps[i] / echo_rps
            met = "—"
            if (label[i] !~ /^echo/) met = (r >= ratio && p99[i] <= p99max) ? "met" : "**not met**"
            printf "| %s | %.0f | %.2f | %.2f | %.0f%% | %s |\n", label[i], rps[i], p50[i], p99[i], 100 * r, met
        }
    }' "$RESULTS"
echo
echo "Ratio: to the mean of the two echo runs."
echo
"$BIN/python" bench/summary_cold.py "$DB" -n "$COLD_CALLS"
rm -f "$OUT"/demo.sqlite3*  # 12 MB a run; the logs and wrk's output stay
echo
echo "(raw wrk output: $OUT/wrk.txt)"
if ((failed)); then
    echo "api.sh: some requests failed; the figures above do not count" >&2
    exit 1
fi
