#!/usr/bin/env bash
# PostgreSQL beside SQLite (issue 13, bench/RESULTS.md "PostgreSQL (issue 13)"):
#
#   MAILTALLY_BENCH_PG=postgresql://USER:PASSWORD@HOST bash bench/postgres.sh
#
# (a role that may CREATE DATABASE; the script makes and drops databases named
# ${PREFIX}synth, ${PREFIX}run and ${PREFIX}demo, PREFIX=mailtally_bench_ by default).  In one run, on the same machine:
#   1. ingest: `mailtally synth` writes the 1M-line Postfix platform log of
#      `make bench-ingest` (same seed: the same log) and its platform into a SQLite
#      file and into a PostgreSQL database; then `mailtally ingest` of every file
#      into a fresh copy of each, SQLite then PostgreSQL, REPEAT times (best wall
#      time of each; /usr/bin/time -v), and the counts of both compared;
#   2. bytes per account-day of each store after the ingest (tables and indexes,
#      divided by accounts x days of counts);
#   3. the API: the demo platform on each, served by one `mailtally serve`, and
#      wrk's stats_summary runs of bench/api.sh (company by month, domain by day,
#      user by day), each against SQLite then PostgreSQL, ROUNDS times (DURATION
#      each), with the server's CPU per request and, on PostgreSQL, the database
#      backends' CPU and transactions per request (figures the load does not skew
#      as it skews requests/s).
# The database's CPU in an ingest is read by bench/pgcpu/sitecustomize.py (the
# server on this machine, its /proc readable by this user; else reported as 0).
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
ROUNDS=${ROUNDS:-1}
PREFIX=${PREFIX:-mailtally_bench_}
PG=${MAILTALLY_BENCH_PG:?set MAILTALLY_BENCH_PG=postgresql://USER:PASSWORD@HOST (a role with CREATEDB)}
PG=${PG%/}

for tool in wrk curl psql; do
    command -v $tool >/dev/null || { echo "postgres.sh: needs $tool" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "postgres.sh: needs /usr/bin/time" >&2; exit 1; }

mkdir -p bench/out
OUT=$(mktemp -d "$ROOT/bench/out/postgres.XXXXXX")
SQ="sqlite:///$OUT/store.sqlite3"
pgdb() { echo "$PG/$PREFIX$1"; }
admin() { psql -X -q -v ON_ERROR_STOP=1 "$PG/postgres" -c "$1"; }
fresh_db() {  # fresh_db NAME [TEMPLATE]
    admin "DROP DATABASE IF EXISTS $PREFIX$1"
    admin "CREATE DATABASE $PREFIX$1 TEMPLATE ${2:+$PREFIX}${2:-template0} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
}
# shellcheck source=bench/serve.sh
. bench/serve.sh
cleanup() {
    stop_server
    for db in synth run demo; do admin "DROP DATABASE IF EXISTS $PREFIX$db" || true; done
    rm -f "$OUT"/*.sqlite3*
}
trap cleanup EXIT

measure() {  # measure NAME CMD... -> "seconds rss_kb client_cpu_s database_cpu_s"
    local name=$1; shift
    : >"$OUT/$name.dbcpu"
    PYTHONPATH=$ROOT/bench/pgcpu${PYTHONPATH:+:$PYTHONPATH} PGPERF_CPU=$OUT/$name.dbcpu \
        /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" \
        || { echo "postgres.sh: $name failed (see $OUT/$name.err)" >&2; exit 1; }
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = (n == 3) ? t[1]*3600 + t[2]*60 + t[3] : t[1]*60 + t[2]}
                /User time|System time/ {c += $2}
                /Maximum resident set size/ {r = $2} END {printf "%s %s %.2f ", s, r, c}' "$OUT/$name.time"
    awk '{d += $1} END {printf "%.2f\n", d}' "$OUT/$name.dbcpu"
}
# cpu_ticks PID...: user+system clock ticks of these processes (0 for one gone)
cpu_ticks() {
    local t=0 pid
    for pid in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0))); done
    echo "$t"
}
# backends DB: the server processes serving database DB now (but this query's)
backends() {
    psql -X -At "$PG/postgres" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$1' AND pid <> pg_backend_pid()"
}
# xacts DB: transactions committed and rolled back in DB so far
xacts() {
    psql -X -At "$PG/postgres" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$1'"
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
ING=$OUT/ingest.txt
: >"$ING"
for ((i = 1; i <= REPEAT; i++)); do
    cp "$OUT/synth.sqlite3" "$OUT/store.sqlite3"
    read -r s r c d < <(measure ingest-sqlite "$BIN/mailtally" ingest --quiet --db "$SQ" "${FILES[@]}")
    echo "postgres.sh: round $i: SQLite $s s, CPU $c s (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    echo "$i|SQLite|$s|$c|$d|$(cut -d' ' -f1 /proc/loadavg)" >>"$ING"
    [[ -z $best_sq ]] || awk -v a="$s" -v b="$best_sq" 'BEGIN {exit !(a < b)}' && best_sq=$s
    ((r > rss_sq)) && rss_sq=$r
    fresh_db run synth
    read -r s r c d < <(measure ingest-pg "$BIN/mailtally" ingest --quiet --db "$(pgdb run)" "${FILES[@]}")
    echo "postgres.sh: round $i: PostgreSQL $s s, CPU $c s + database $d s (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    echo "$i|PostgreSQL|$s|$c|$d|$(cut -d' ' -f1 /proc/loadavg)" >>"$ING"
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
# each run on SQLite then at once on PostgreSQL (the same minute's load), ROUNDS times
demo_db=$PREFIX"demo"
for ((i = 1; i <= ROUNDS; i++)); do
    for run in "${RUNS[@]}"; do
        IFS='|' read -r label body <<<"$run"
        for backend in sqlite postgresql; do
            db="sqlite:///$OUT/demo.sqlite3"
            [[ $backend == postgresql ]] && db=$(pgdb demo)
            start_server "$db" "$OUT/server-$backend.log"
            curl -s -X POST "$URL/stats_summary" -d "$body" | grep -q '"success":true' \
                || { echo "postgres.sh: $backend $label failed" >&2; exit 1; }
            pids=()
            [[ $backend == postgresql ]] && mapfile -t pids < <(backends "$demo_db")
            t0=$(cpu_ticks "$SERVER_PID") d0=$(cpu_ticks "${pids[@]}") x0=0
            [[ $backend == postgresql ]] && x0=$(xacts "$demo_db")
            # (--timeout: on a loaded machine a request may wait seconds; it counts, slowly)
            BODY=$body EXPECT='"summary":{"' wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
                --timeout 10s -s bench/post.lua "$URL/stats_summary" >"$OUT/wrk.out"
            t1=$(cpu_ticks "$SERVER_PID") d1=$(cpu_ticks "${pids[@]}") x1=0
            [[ $backend == postgresql ]] && x1=$(xacts "$demo_db")
            cat "$OUT/wrk.out" >>"$OUT/wrk.txt"
            read -r _ rps p50 p99 requests non200 unexpected errors < <(grep '^RESULT ' "$OUT/wrk.out")
            ((non200 + unexpected + errors == 0)) \
                || { echo "postgres.sh: $backend $label: $non200 non-200, $unexpected unexpected," \
                    "$errors socket errors of $requests" >&2; exit 1; }
            hz=$(getconf CLK_TCK)
            echo "$backend|$label|$rps|$p50|$p99|$(cut -d' ' -f1-3 /proc/loadavg)|$(awk -v a="$t0" -v b="$t1" \
                -v c="$d0" -v d="$d1" -v x="$x0" -v y="$x1" -v n="$requests" -v hz="$hz" \
                'BEGIN {printf "%.1f|%.1f|%.3f", (b - a) * 1e6 / hz / n, (d - c) * 1e6 / hz / n, (y - x) / n}')|$i" >>"$API"
            stop_server
        done
    done
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
echo "| ingest round | backend | seconds | client CPU s | database CPU s | load (1 min) |"
echo "|---|---|---:|---:|---:|---:|"
awk -F'|' '{printf "| %s | %s | %.1f | %.2f | %.2f | %s |\n", $1, $2, $3, $4, $5, $6}' "$ING"
echo
echo "| stats_summary (round) | SQLite req/s | PostgreSQL req/s | PG/SQLite (target ≥ 70%) | server CPU µs/request SQLite / PG | database CPU µs/request | transactions/request | SQLite p99 ms | PG p99 ms | load (1 min) SQLite / PG |"
echo "|---|---:|---:|---:|---|---:|---:|---:|---:|---|"
awk -F'|' '$1 == "sqlite" {k = $2 " (" $10 ")"; r[k] = $3; p[k] = $5; l[k] = $6; c[k] = $7; order[++n] = k}
           $1 == "postgresql" {k = $2 " (" $10 ")"; rp[k] = $3; pp[k] = $5; lp[k] = $6; cp[k] = $7; dp[k] = $8; xp[k] = $9}
           END {for (i = 1; i <= n; i++) {k = order[i]; split(l[k], a, " "); split(lp[k], b, " ")
                printf "| %s | %.0f | %.0f | %.0f%% | %s / %s | %s | %s | %.1f | %.1f | %s / %s |\n", k, r[k], rp[k], 100 * rp[k] / r[k],
                       c[k], cp[k], dp[k], xp[k], p[k], pp[k], a[1], b[1]}}' "$API"
echo
echo "(wrk -t$THREADS -c$CONNECTIONS -d$DURATION, one uvicorn worker, $ROUNDS round(s); raw output in $OUT)"
