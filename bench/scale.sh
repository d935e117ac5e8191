#!/usr/bin/env bash
# Provider scale (issue 9): `make bench-scale`, or
#
#   ACCOUNTS=100000 HISTORY_DAYS=399 LINES=1000000 bash bench/scale.sh
#
# Builds a provider's platform with `mailtally synth`: one company, DOMAINS domains,
# ACCOUNTS accounts in all (created through the tree actions, the code behind the
# API's change_* methods, in one write transaction — see README "Provider scale"),
# HISTORY_DAYS days of history written straight as flow rows (synth/history.py: about
# 45M rows at the full size), and a one-day Postfix + Dovecot log of about LINES lines
# spread over every account.  At the full size the store is about 4.5 GB: the run's
# directory is kept (delete it when done); KEEP_SYNTH_STORE=1 also keeps a copy of the
# store as synth left it, before ingest (as much again).
# Then, in the same run, each under /usr/bin/time -v (wall time, peak RSS):
#   1. pflogsumm over that log (the mail.log files, decompressed, as one stream);
#   2. `mailtally ingest` of the same mail log files into the store;
#   3. `mailtally ingest` of the day's quota report (every mailbox);
#   4. `mailtally prune` twice: the first folds the creation gauges older than retention,
#      the second has nothing to remove (HISTORY_DAYS + 1 within retention);
#   5. bytes per account-day: the store file (and the flows table, by dbstat) over
#      accounts x (history + log) days.
#   6. (with wrk) `serve --workers SWEEP_WORKERS` (2) on the store: SWEEP_USERS (20,000) different users' stats_summary
#      by 16 clients (bench/sweep.lua), each user asked once: the server's RSS after it,
#      and the p99 of those uncached requests;
# and prints a markdown table.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
ACCOUNTS=${ACCOUNTS:-100000}
DOMAINS=${DOMAINS:-100}
HISTORY_DAYS=${HISTORY_DAYS:-399}  # with the log's day: 400 days, all within retention
LINES=${LINES:-1000000}
SEED=${SEED:-1}
SWEEP_USERS=${SWEEP_USERS:-20000}
# `serve --workers N` for the sweep: 2, one a core on the 2-core machine the targets are
# set on (what README "Deployment" has an operator run; RSS is summed over the processes)
SWEEP_WORKERS=${SWEEP_WORKERS:-2}
KEEP_SYNTH_STORE=${KEEP_SYNTH_STORE:-0}
# wrk waits out its whole duration even when every thread has stopped: long enough for
# the sweep (requests below SWEEP_USERS in the output: it was not)
SWEEP_SECONDS=${SWEEP_SECONDS:-300}

command -v pflogsumm >/dev/null || { echo "scale.sh: needs pflogsumm (apt-get install -y pflogsumm)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "scale.sh: needs /usr/bin/time (apt-get install -y time)" >&2; exit 1; }
[[ -x $BIN/mailtally ]] || { echo "scale.sh: no $BIN/mailtally; run make venv" >&2; exit 1; }
((ACCOUNTS % DOMAINS == 0)) || { echo "scale.sh: ACCOUNTS must be a multiple of DOMAINS" >&2; exit 1; }

mkdir -p bench/out
RUN=$(mktemp -d "$ROOT/bench/out/scale.XXXXXX")
DB="sqlite:///$RUN/store.sqlite3"
ROWS=$RUN/rows.tsv
: > "$ROWS"

measure() {  # measure NAME CMD... -> "secs rss_kb"
    local name=$1
    shift
    /usr/bin/time -v -o "$RUN/$name.time" "$@" > "$RUN/$name.out" 2> "$RUN/$name.err" \
        || { echo "scale.sh: $name failed:" >&2; tail -n 20 "$RUN/$name.err" >&2; exit 1; }
    local wall secs rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$RUN/$name.time")
    secs=$(awk -v t="$wall" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$RUN/$name.time")
    echo "$secs $rss"
}

row() {  # row WHAT LINES SECS RSS
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$ROWS"
}

per_domain=$((ACCOUNTS / DOMAINS))
rate=$("$BIN/python" -c "print($LINES / $ACCOUNTS)")
echo "scale.sh: synth $ACCOUNTS accounts, $HISTORY_DAYS days of history, ~$LINES log lines into $RUN" >&2
read -r secs rss <<< "$(measure synth "$BIN/mailtally" synth --db "$DB" --out "$RUN/logs" \
    --companies 1 --domains "$DOMAINS" --accounts-per-domain "$per_domain" --days 1 \
    --lines-per-account-day "$rate" --history-days "$HISTORY_DAYS" --no-history-truth --seed "$SEED")"
row "build: \`mailtally synth\` ($ACCOUNTS accounts, $HISTORY_DAYS days as flow rows, the log)" 0 "$secs" "$rss"
grep -E '^(platform|history|log):' "$RUN/synth.out" | sed 's/^/    /' >> "$RUN/build.txt"
cat "$RUN/synth.out" >&2

mapfile -t ALL < <("$BIN/python" -c 'import json, sys; [print(f"{sys.argv[1]}/{f}") for f in json.load(open(f"{sys.argv[1]}/truth.json"))["files"]]' "$RUN/logs")
mapfile -t MAIL < <(printf '%s\n' "${ALL[@]}" | grep -E '/mail\.log[^/]*$')
mapfile -t QUOTA < <(printf '%s\n' "${ALL[@]}" | grep -E '/quota/')
mail_lines=$(zcat -f "${MAIL[@]}" | wc -l)
quota_lines=$(cat "${QUOTA[@]}" | wc -l)
active=$(zcat -f "${MAIL[@]}" | grep -oE '[a-z0-9.]+@d[0-9]+\.example' | sort -u | wc -l)
echo "scale.sh: $mail_lines mail log lines naming $active platform addresses; $quota_lines quota lines" >&2
if [[ $KEEP_SYNTH_STORE == 1 ]]; then cp "$RUN/store.sqlite3" "$RUN/store-synth.sqlite3"; fi

read -r secs rss <<< "$(measure pflogsumm bash -c "zcat -f ${MAIL[*]} | pflogsumm")"
row "pflogsumm, the mail log" "$mail_lines" "$secs" "$rss"
read -r secs rss <<< "$(measure ingest "$BIN/mailtally" ingest --quiet --db "$DB" "${MAIL[@]}")"
row "\`mailtally ingest\`, the mail log" "$mail_lines" "$secs" "$rss"
read -r secs rss <<< "$(measure quota "$BIN/mailtally" ingest --quiet --db "$DB" "${QUOTA[@]}")"
row "\`mailtally ingest\`, the quota report" "$quota_lines" "$secs" "$rss"
# twice: the first folds the gauge rows of the accounts' creation (synth creates them
# 400 to 700 days back, past retention); the second has nothing to remove
for i in 1 2; do
    read -r secs rss <<< "$(measure "prune$i" "$BIN/mailtally" prune --db "$DB")"
    row "\`mailtally prune\` #$i ($(tail -n 1 "$RUN/prune$i.out" | cut -d' ' -f1-3))" 0 "$secs" "$rss"
done

# `serve` after SWEEP_USERS different users' stats_summary (user by day), 16 clients:
# its RSS then, and the p99 of those uncached requests (bench/sweep.sh)
if command -v wrk >/dev/null && command -v curl >/dev/null && ((SWEEP_USERS > 0)); then
    SWEEP_USERS=$SWEEP_USERS SWEEP_SECONDS=$SWEEP_SECONDS SWEEP_TSV=$RUN/sweep.tsv BIN=$BIN \
        WORKERS=$SWEEP_WORKERS \
        KEEP=$RUN/sweep bash bench/sweep.sh "$RUN/store.sqlite3" "$RUN/logs/platform.json" >&2
fi

size=$(stat -c %s "$RUN/store.sqlite3")
flows=$("$BIN/python" - "$RUN/store.sqlite3" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
try:
    print(sum(r[0] for r in c.execute(
        "SELECT sum(pgsize) FROM dbstat WHERE name IN"
        " (SELECT name FROM sqlite_master WHERE tbl_name = 'flows')")))
except sqlite3.OperationalError:  # no dbstat in this SQLite
    print(0)
PY
)
account_days=$((ACCOUNTS * (HISTORY_DAYS + 1)))

"$BIN/python" - "$ROWS" "$size" "$flows" "$account_days" "$ACCOUNTS" "$HISTORY_DAYS" "$active" \
    "$SWEEP_WORKERS" <<'PY'
import sys

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
size, flows, account_days, accounts, history, active, workers = map(int, sys.argv[2:])
print(f"{accounts:,} accounts, {history} days of history + 1 day of log; "
      f"the log names {active:,} platform addresses")
print()
print("| step | lines | wall s | lines/s | peak RSS MB | vs pflogsumm |")
print("|---|---:|---:|---:|---:|---:|")
ref = next(int(r[1]) / float(r[2]) for r in rows if r[0].startswith("pflogsumm"))
for what, lines, secs, rss in rows:
    n, s = int(lines), float(secs)
    speed = f"{n / s:,.0f}" if n else ""
    ratio = f"{n / s / ref:.2f}×" if n and "mail log" in what else ""
    print(f"| {what} | {n:,} | {s:.2f} | {speed} | {int(rss) / 1024:.0f} | {ratio} |")
print()
try:
    sweep = open(sys.argv[1].replace("rows.tsv", "sweep.tsv")).read().split("\t")
except FileNotFoundError:
    sweep = None
if sweep:
    _, n, _rps, p50, p99, requests, bad, rss, peak = sweep
    print()
    print(f"`serve --workers {workers}` after {int(n):,} users' stats_summary (user by day), 16 clients "
          f"(wrk, bench/sweep.lua): uncached p50 {p50} ms, "
          f"p99 {p99} ms ({requests} requests, {bad} failed); RSS then "
          f"{int(rss) / 1024:,.0f} MB, peak {int(peak) / 1024:,.0f} MB")
print()
print(f"store: {size / 2**20:,.0f} MiB, {size / account_days:.0f} bytes per account-day"
      + (f" (flows and its indexes: {flows / account_days:.0f})" if flows else ""))
PY
cat "$RUN/build.txt"
echo "(output kept in $RUN)" >&2
