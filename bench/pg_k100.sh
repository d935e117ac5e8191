#!/usr/bin/env bash
# PostgreSQL against SQLite at 100,000 accounts (issue 13): the fixture's one day
# (/work/fixture-100k/logs: ~1M Postfix+Dovecot lines naming ~97k accounts)
# ingested into a fresh copy of the same 30-day store on each backend,
# SQLite and PostgreSQL alternated, ROUNDS times; then both stores compared
# row by row (bench/store_rows.py: every flows and gauges row, every account's
# lastlogin).
#
#   MAILTALLY_BENCH_PG=postgresql://USER:PASS@HOST TEMPLATE=mailtally_pgperf_k100 \
#   SQLITE=bench/out/k100-v13.sqlite3 ROUNDS=3 bash bench/pg_k100.sh
#
# SQLITE: the fixture store (/work/fixture-100k/store-v10.sqlite3 copied and
# `mailtally migrate`d); TEMPLATE: the same store in PostgreSQL
# (bench/pg_copy_sqlite.py, then `mailtally migrate`), never written: each run
# ingests into `CREATE DATABASE … TEMPLATE` (DB, dropped at the end), and
# each copy is synced to disk before its ingest starts.  The
# server's settings in force are printed first (README "PostgreSQL": the
# recommended configuration); the database's CPU is read by bench/pgcpu.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
PG=${MAILTALLY_BENCH_PG:?a PostgreSQL URL without a database name}
TEMPLATE=${TEMPLATE:-mailtally_pgperf_k100}
DB=${DB:-${TEMPLATE}_run}
SQLITE=${SQLITE:?the 100k store at the current schema}
LOGS=${LOGS:-/work/fixture-100k/logs}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-$ROOT/bench/out/pg_k100}
mkdir -p "$OUT"
FILES=("$LOGS/mail.log.3.gz" "$LOGS/mail.log.2.gz" "$LOGS/mail.log.1" "$LOGS/mail.log")

sql() { psql "$PG/$1" -XAtqc "$2"; }
echo "server: $(sql "$TEMPLATE" "SELECT string_agg(name || '=' || current_setting(name), ' ')
  FROM pg_settings WHERE name IN ('shared_buffers', 'wal_buffers', 'max_wal_size',
  'checkpoint_timeout', 'synchronous_commit', 'wal_compression', 'full_page_writes')")"

measure() {  # measure NAME CMD... -> "seconds client_cpu_s database_cpu_s"
    local name=$1; shift
    : >"$OUT/$name.dbcpu"
    PYTHONPATH=$ROOT/bench/pgcpu PGPERF_CPU=$OUT/$name.dbcpu \
        /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" \
        || { echo "pg_k100.sh: $name failed (see $OUT/$name.err)" >&2; exit 1; }
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = (n == 3) ? t[1]*3600 + t[2]*60 + t[3] : t[1]*60 + t[2]}
                /User time|System time/ {c += $2} END {printf "%s %.2f ", s, c}' "$OUT/$name.time"
    awk '{d += $1} END {printf "%.2f\n", d}' "$OUT/$name.dbcpu"
}
load() { cut -d' ' -f1 /proc/loadavg; }

for ((i = 1; i <= ROUNDS; i++)); do
    cp "$SQLITE" "$OUT/store.sqlite3" && sync
    l0=$(load)
    read -r s c _ < <(measure sqlite "$BIN/mailtally" ingest --quiet --db "$OUT/store.sqlite3" "${FILES[@]}")
    echo "round $i SQLite      wall $s s  CPU $c s  load $l0 -> $(load)"
    # (FILE_COPY: the copy's checkpoint is taken here, not during the ingest;
    # PostgreSQL 15's default WAL_LOG strategy writes the whole copy to the WAL)
    sql postgres "DROP DATABASE IF EXISTS $DB"
    sql postgres "CREATE DATABASE $DB TEMPLATE $TEMPLATE STRATEGY FILE_COPY" && sync
    wal0=$(sql "$DB" "SELECT pg_current_wal_lsn()")
    l0=$(load)
    read -r p c d < <(measure pg "$BIN/mailtally" ingest --quiet --db "$PG/$DB" "${FILES[@]}")
    wal=$(sql "$DB" "SELECT pg_size_pretty(pg_current_wal_lsn() - '$wal0'::pg_lsn)")
    hot=$(sql "$DB" "SELECT sum(n_tup_upd) || ' updates, ' || sum(n_tup_hot_upd) || ' HOT'
      FROM pg_stat_user_tables WHERE relname LIKE 'flows%'")
    echo "round $i PostgreSQL  wall $p s  CPU $c s + database $d s  load $l0 -> $(load)" \
         " ratio $(awk -v a="$p" -v b="$s" 'BEGIN {printf "%.2f", a / b}')  WAL $wal  flows: $hot"
done
if [[ ${COMPARE:-1} == 1 ]]; then
    "$BIN/python" "$ROOT/bench/store_rows.py" "$OUT/store.sqlite3" "$PG/$DB"
fi
[[ ${KEEP:-0} == 1 ]] || sql postgres "DROP DATABASE $DB"
