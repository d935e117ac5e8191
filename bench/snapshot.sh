#!/usr/bin/env bash
# The snapshot benchmark of issue 11 (bench/RESULTS.md, "Snapshots (issue 11)"):
#
#   bash bench/snapshot.sh
#
# On a copy of the 100,000-account store (/work/fixture-100k/store-synth.sqlite3,
# or FIXTURE=...; copied to bench/out/snap-100k.sqlite3 once, and migrated when
# first opened — the original is never written), serves it with `mailtally
# serve`, makes a stats_snapshot link for the company (all 100,000 accounts)
# and for one domain (1,000), downloads each with curl, and reports the time,
# the bytes, and the server's resident memory before, during (sampled every
# 50 ms) and after the download.  Then `mailtally snapshot` writes the same
# company CSV to a file under /usr/bin/time -v (its peak RSS), and
# bench/snapshot_check.py checks that the downloaded rows add up to
# stats_summary.  Settings: DATE (a month, week or day the store holds;
# default 2026-11), FIXTURE.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
FIXTURE=${FIXTURE:-/work/fixture-100k/store-synth.sqlite3}
DATE=${DATE:-2026-11}
COPY=$ROOT/bench/out/snap-100k.sqlite3
DB="sqlite:///$COPY"
mkdir -p bench/out
if [[ ! -e $COPY ]]; then
    cp "$FIXTURE" "$COPY"
    chmod u+w "$COPY"
    echo "migrating the copy (once)..." >&2
    /usr/bin/time -f "migration: %e s, peak RSS %M KB" "$BIN/python" -c \
        "from mailtally.store import open_store; open_store('$DB').close()"
fi
OUT=$(mktemp -d "$ROOT/bench/out/snapshot.XXXXXX")
PW=bench-snapshot-password
echo "$PW" | "$BIN/mailtally" operator add snapbench --db "$DB" >/dev/null
# shellcheck source=bench/serve.sh
. bench/serve.sh
trap stop_server EXIT
start_server "$DB" "$OUT/server.log" 600

rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }

# a session token, so that the password's argon2 (64 MiB) is done before measuring
TOKEN=$(curl -s -X POST "$URL/authenticate" -d "{\"credentials\":{\"user\":\"snapbench\",\"password\":\"$PW\"},\"generate_session_token\":true}" \
    | "$BIN/python" -c 'import json,sys; print(json.load(sys.stdin)["session_token"])')
CREDS="{\"user\":\"snapbench\",\"token\":\"$TOKEN\"}"
curl -s -X POST "$URL/stats_list" -d "{\"credentials\":$CREDS}" >"$OUT/list.json"

# download TYPE OBJECT: prints a markdown table row
download() {
    local type=$1 object=$2 link rss0 hwm0 peak=0 sampler
    link=$(curl -s -X POST "$URL/stats_snapshot" \
        -d "{\"credentials\":$CREDS,\"type\":\"$type\",\"object\":\"$object\",\"date\":\"$DATE\"}" \
        | "$BIN/python" -c 'import json,sys; a=json.load(sys.stdin); print(a["snapshot"]) if a["success"] else sys.exit(a)')
    rss0=$(rss VmRSS)
    hwm0=$(rss VmHWM)
    ( while kill -0 "$SERVER_PID" 2>/dev/null; do rss VmRSS; sleep 0.05; done ) >"$OUT/rss-$object.txt" &
    sampler=$!
    local stats
    stats=$(curl -s -o "$OUT/$object.csv" -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}' "$link")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    peak=$(sort -n "$OUT/rss-$object.txt" | tail -1)
    local code first total size rows
    read -r code first total size <<<"$stats"
    [[ $code == 200 ]] || { echo "download of $object: HTTP $code" >&2; cat "$OUT/$object.csv" >&2; exit 1; }
    rows=$(($(wc -l <"$OUT/$object.csv") - 1))
    echo "| $type $object | $DATE | $rows | $((size / 1024)) KiB | ${first} s | ${total} s | $((rss0 / 1024)) MB | $((peak / 1024)) MB | $((hwm0 / 1024)) → $(($(rss VmHWM) / 1024)) MB |"
}

echo "load before: $(uptime | sed 's/.*load average: //')"
echo
echo "| snapshot | date | rows | size | first byte | total | server RSS before | RSS peak during | server VmHWM before → after |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
download company "Company 1"
download domain d1.example
download company "Company 1"
echo
echo "load after: $(uptime | sed 's/.*load average: //')"
stop_server

/usr/bin/time -v "$BIN/mailtally" snapshot --db "$DB" --type company --object "Company 1" \
    --date "$DATE" -o "$OUT/cli.csv" 2>"$OUT/cli.time"
echo
echo "mailtally snapshot (company, $DATE): $(awk -F': ' '/Elapsed/ {print $2}' "$OUT/cli.time") elapsed," \
    "peak RSS $(($(awk -F': ' '/Maximum resident/ {print $2}' "$OUT/cli.time") / 1024)) MB," \
    "same bytes as the download (but the link's clock): $(cmp -s "$OUT/cli.csv" "$OUT/Company 1.csv" && echo yes || echo no)"
"$BIN/python" bench/snapshot_check.py "$DB" "Company 1" "$DATE" "$OUT/Company 1.csv"
echo "(files in $OUT)"
