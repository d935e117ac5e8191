#!/usr/bin/env bash
# PostgreSQL beside SQLite (issue 13, bench/RESULTS.md "PostgreSQL (issue 13)"):
#
#   MAILTALLY_BENCH_PG=postgresql://USER:PASSWORD@HOST bash bench/postgres.sh
#
# (a role that may CREATE DATABASE; the script makes and drops databases named
# mailtally_bench_*).  In one run, on the same machine:
#   1. ingest: `mailtally synth` writes the 1M-line Postfix platform log of
#      `make bench-ingest` (same seed: the same log) and its platform into a SQLite
#      file and into a PostgreSQL database; then `mailtally ingest` of every file
#      into a fresh copy of each, SQLite then PostgreSQL, REPEAT times (best wall
#      time of each; /usr/bin/time -v), and the counts of both compared;
#   2. bytes per account-day of each store after the ingest (tables and indexes,
#      divided by accounts x days of counts);
#   3. the API: the demo platform on each, served by one `mailtally serve`, and
#      wrk's stats_summary runs of bench/api.sh (company by month, domain by day,
#      user by day) against SQLite then PostgreSQL, DURATION each.
# Targets: PostgreSQL's ingest within 1.5x SQLite's time, its stats_summary
# requests/s at least 70% of SQLite's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
LINES=${LINES:-1000000}
SEED=${SEED:-1}
REPEAT=${REPEAT:-2}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PG=${MAILTALLY_BENCH_PG:?set MAILTALLY_BENCH_PG=postgresql://USER:PASSWORD@HOST (a role with CREATEDB)}
PG=${PG%/}

for tool in wrk curl psql; do
    command -v $tool >/dev/null || { echo "postgres.sh: needs $tool" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "postgres.sh: needs /usr/bin/time" >&2; exit 1; }

mkdir -p bench/out
OUT=$(mktemp -d "$ROOT/bench/out/postgres.XXXXXX")
SQ="sqlite:///$OUT/store.sqlite3"
pgdb() { echo "$PG/mailtally_bench_$1"; }
admin() { psql -X -q -v ON_ERROR_STOP=1 "$PG/postgres" -c "$1"; }
fresh_db() {  # fresh_db NAME [TEMPLATE]
    admin "DROP DATABASE IF EXISTS mailtally_bench_$1"
    admin "CREATE DATABASE mailtally_bench_$1 TEMPLATE ${2:+mailtally_bench_}${2:-template0} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
}
# shellcheck source=bench/serve.sh
. bench/serve.sh
cleanup() {
    stop_server
    for db in synth run demo; do admin "DROP DATABASE IF EXISTS mailtally_bench_$db" || true; done
    rm -f "$OUT"/*.sqlite3*
}
trap cleanup EXIT

measure() {  # measure NAME CMD... -> "seconds rss_kb"
    local name=$1; shift
    /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" \
        || { echo "postgres.sh: $name failed (see $OUT/$name.err)" >&2; exit 1; }
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = (n == 3) ? t[1]*3600 + t[2]*60 + t[3] : t[1]*60 + t[2]}
                /Maximum resident set size/ {r = $2} END {print s, r}' "$OUT/$name.time"
}

# -- 1. ingest ----------------------------------------------------------------------------
echo "postgres.sh: synth $LINES lines (SQLite, then PostgreSQL) in $OUT" >&2
"$BIN/mailtally" synth --out "$OUT/logs" --lines "$LINES" --seed "$SEED" --db "$SQ" >"$OUT/synth.out"
cp "$OUT/store.sqlite3" "$OUT/synth.sqlite3"
fresh_db synth
"$BIN/mailtally" synth --out "$OUT/logs-pg" --lines "$LINES" --seed "$SEED" --db "$(pgdb synth)" >"$OUT/synth-pg.out"
cmp -s "$OUT/logs/truth.json" "$OUT/logs-pg/truth.json" \
    || { echo "postgres.sh: synth wrote another log for PostgreSQL" >&2; exit 1; }
mapfile -t FILES < <("$BIN/python" -c 'import json, sys; [print(f"{sys.argv[1]}/{f}") for f in json.load(open(f"{sys.argv[1]}/truth.json"))["files"]]' "$OUT/logs")
total_lines=$(zcat -f "${FILES[@]}" | wc -l)

best_sq="" best_pg="" rss_sq=0 rss_pg=0
for ((i = 1; i <= REPEAT; i++)); do
    cp "$OUT/synth.sqlite3" "$OUT/store.sqlite3"
    read -r s r < <(measure ingest-sqlite "$BIN/mailtally" ingest --quiet --db "$SQ" "${FILES[@]}")
    echo "postgres.sh: round $i: SQLite $s s (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    [[ -z $best_sq ]] || awk -v a="$s" -v b="$best_sq" 'BEGIN {exit !(a < b)}' && best_sq=$s
    ((r > rss_sq)) && rss_sq=$r
    fresh_db run synth
    read -r s r < <(measure ingest-pg "$BIN/mailtally" ingest --quiet --db "$(pgdb run)" "${FILES[@]}")
    echo "postgres.sh: round $i: PostgreSQL $s s (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    [[ -z $best_pg ]] || awk -v a="$s" -v b="$best_pg" 'BEGIN {exit !(a < b)}' && best_pg=$s
    ((r > rss_pg)) && rss_pg=$r
done

# the same counts on both (every flow and gauge column summed by kind and scope kind)
"$BIN/python" - "$SQ" "$(pgdb run)" >"$OUT/sizes.txt" <<'EOF'
import sys
from mailtally.store import open_store
from mailtally.store.base import FLOW_COLUMNS, GAUGE_COLUMNS

def sums(url):
    with open_store(url) as s, s.read() as q:
        f = q._all(f"SELECT kind, scope, {', '.join(f'SUM({c})' for c in FLOW_COLUMNS)}, "
                   "COUNT(*) FROM flows GROUP BY kind, scope ORDER BY kind, scope")
        g = q._all(f"SELECT kind, scope, {', '.join(f'SUM({c})' for c in GAUGE_COLUMNS)}, "
                   "COUNT(*) FROM gauges GROUP BY kind, scope ORDER BY kind, scope")
        users = q._one("SELECT COUNT(*) FROM users")[0]
        days = q._one("SELECT COUNT(DISTINCT period) FROM flows WHERE kind = 0 AND period > ''")[0]
    return [tuple(int(v) if not isinstance(v, str) else v for v in r) for r in f + g], users, days

a, users, days = sums(sys.argv[1])
b, _, _ = sums(sys.argv[2])
if a != b:
    sys.exit("postgres.sh: SQLite and PostgreSQL counted differently")
print(users, days)
EOF
read -r users days <"$OUT/sizes.txt"
sq_bytes=$(stat -c %s "$OUT/store.sqlite3")
pg_bytes=$(psql -X -At "$(pgdb run)" -c "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'")

# -- 2. the API -------------------------------------------------------------------------------
echo "postgres.sh: demo platform (SQLite, then PostgreSQL)" >&2
"$BIN/mailtally" demo --db "sqlite:///$OUT/demo.sqlite3" --force >"$OUT/demo.txt"
fresh_db demo
"$BIN/mailtally" demo --db "$(pgdb demo)" >"$OUT/demo-pg.txt"
CREDS='"credentials":{"user":"admin@example.com","password":"demo-password"}'
RUNS=(
    "company by month|{$CREDS,\"type\":\"company\",\"object\":\"Example Hosting\",\"by\":\"month\"}"
    "domain by day|{$CREDS,\"type\":\"domain\",\"object\":\"example.com\",\"by\":\"day\"}"
    "user by day|{$CREDS,\"type\":\"user\",\"object\":\"alice@example.com\",\"by\":\"day\"}"
)
API=$OUT/api.txt
: >"$API"
for backend in sqlite postgresql; do
    db="sqlite:///$OUT/demo.sqlite3"
    [[ $backend == postgresql ]] && db=$(pgdb demo)
    start_server "$db" "$OUT/server-$backend.log"
    for run in "${RUNS[@]}"; do
        IFS='|' read -r label body <<<"$run"
        curl -s -X POST "$URL/stats_summary" -d "$body" | grep -q '"success":true' \
            || { echo "postgres.sh: $backend $label failed" >&2; exit 1; }
        # (--timeout: on a loaded machine a request may wait seconds; it counts, slowly)
        BODY=$body EXPECT='"summary":{"' wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
            --timeout 10s -s bench/post.lua "$URL/stats_summary" >"$OUT/wrk.out"
        cat "$OUT/wrk.out" >>"$OUT/wrk.txt"
        read -r _ rps p50 p99 requests non200 unexpected errors < <(grep '^RESULT ' "$OUT/wrk.out")
        ((non200 + unexpected + errors == 0)) \
            || { echo "postgres.sh: $backend $label: $non200 non-200, $unexpected unexpected," \
                "$errors socket errors of $requests" >&2; exit 1; }
        echo "$backend|$label|$rps|$p50|$p99|$(cut -d' ' -f1-3 /proc/loadavg)" >>"$API"
    done
    stop_server
done

# -- report -------------------------------------------------------------------------------------
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs; $(psql -X -At "$PG/postgres" -c 'SELECT version()' | cut -d' ' -f1-2)"
echo "- log: $total_lines lines (synth --lines $LINES --seed $SEED), $users accounts, $days days"
echo
echo "| ingest | seconds (best of $REPEAT) | lines/s | peak RSS MB | ratio to SQLite (target ≤ 1.5) | bytes/account-day |"
echo "|---|---:|---:|---:|---:|---:|"
awk -v l="$total_lines" -v s="$best_sq" -v p="$best_pg" -v rs="$rss_sq" -v rp="$rss_pg" \
    -v bs="$sq_bytes" -v bp="$pg_bytes" -v ad="$((users * days))" 'BEGIN {
    printf "| SQLite | %.1f | %.0f | %.0f | 1.00 | %.0f |\n", s, l / s, rs / 1024, bs / ad
    printf "| PostgreSQL | %.1f | %.0f | %.0f | %.2f | %.0f |\n", p, l / p, rp / 1024, p / s, bp / ad }'
echo
echo "| stats_summary | SQLite req/s | PostgreSQL req/s | PG/SQLite (target ≥ 70%) | SQLite p99 ms | PG p99 ms | load (1 min) SQLite / PG |"
echo "|---|---:|---:|---:|---:|---:|---|"
awk -F'|' '$1 == "sqlite" {r[$2] = $3; p[$2] = $5; l[$2] = $6; order[++n] = $2}
           $1 == "postgresql" {rp[$2] = $3; pp[$2] = $5; lp[$2] = $6}
           END {for (i = 1; i <= n; i++) {k = order[i]; split(l[k], a, " "); split(lp[k], b, " ")
                printf "| %s | %.0f | %.0f | %.0f%% | %.1f | %.1f | %s / %s |\n", k, r[k], rp[k], 100 * rp[k] / r[k], p[k], pp[k], a[1], b[1]}}' "$API"
echo
echo "(wrk -t$THREADS -c$CONNECTIONS -d$DURATION, one uvicorn worker; raw output in $OUT)"
