#!/usr/bin/env bash
# Ingest at provider scale (issue 9) on a platform already built (bench/scale.sh's
# synth step, or the lead's fixture), without building it again:
#
#   bash bench/ingest_scale.sh DIR                 # DIR/store-synth.sqlite3, DIR/logs/
#   BEFORE=/path/to/old/src bash bench/ingest_scale.sh DIR
#   BEFORE=/path/to/old/src BEFORE_STORE=FILE bash bench/ingest_scale.sh DIR
#   STORE=FILE ...                                # FILE instead of DIR/store-synth.sqlite3
#
# Each round, on fresh copies of DIR/store-synth.sqlite3 (never written to) and each
# under /usr/bin/time -v (wall time, peak RSS), one after the other in the same minute:
#   1. pflogsumm over the mail.log files, decompressed, as one stream;
#   2. `mailtally ingest --quiet` of the same mail log files, then of the quota report
#      (into the same copy, as bench/scale.sh does);
#   3. with BEFORE (a `src` directory of another commit, e.g. from `git archive`, with
#      the compiled extension copied in): the same with that code first on PYTHONPATH,
#      on a copy of BEFORE_STORE if given (a store that code migrated already, so
#      neither run pays for a migration).
# Every mailtally runs under bench/io_of.py: CPU seconds, and MB written by write()
# (the WAL's frames and the checkpoints' pages: what an ingest's dirtied pages cost).
# REPEAT rounds (default 1); prints one markdown row per run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
REPEAT=${REPEAT:-1}
BEFORE=${BEFORE:-}
DIR=${1:?usage: bench/ingest_scale.sh DIR (with store-synth.sqlite3 and logs/)}

mkdir -p bench/out
RUN=$(mktemp -d "$ROOT/bench/out/ingest-scale.XXXXXX")
mapfile -t ALL < <("$BIN/python" -c 'import json, sys; [print(f"{sys.argv[1]}/{f}") for f in json.load(open(f"{sys.argv[1]}/truth.json"))["files"]]' "$DIR/logs")
mapfile -t MAIL < <(printf '%s\n' "${ALL[@]}" | grep -E '/mail\.log[^/]*$')
mapfile -t QUOTA < <(printf '%s\n' "${ALL[@]}" | grep -E '/quota/')
mail_lines=$(zcat -f "${MAIL[@]}" | wc -l)
quota_lines=$(cat "${QUOTA[@]}" | wc -l)

measure() {  # measure NAME CMD... -> "seconds rss_mb cpu_s written_mb"
    local name=$1; shift
    /usr/bin/time -v -o "$RUN/$name.time" "$@" > "$RUN/$name.out" 2> "$RUN/$name.err" \
        || { echo "ingest_scale.sh: $name failed (see $RUN/$name.err)" >&2; exit 1; }
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = p[n] + 60 * p[n-1] + (n == 3 ? 3600 * p[1] : 0) }
                /Maximum resident set size/ { r = $2 / 1024 }
                /User time/ { c += $2 } /System time/ { c += $2 }
                END { printf "%.2f %.0f %.1f ", s, r, c }' "$RUN/$name.time"
    awk '/^io_of:/ { printf "%.0f", $3 / 1e6; found = 1 } END { if (!found) printf "-" }' "$RUN/$name.err"
    echo
}

echo "| round | run | lines | wall s | CPU s | lines/s | peak RSS MB | written MB | vs pflogsumm |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$REPEAT"); do
    read -r ref rss cpu wrote <<< "$(measure "pflogsumm.$round" bash -c "zcat -f ${MAIL[*]} | pflogsumm")"
    echo "| $round | pflogsumm | $mail_lines | $ref | $cpu | $(awk -v n="$mail_lines" -v s="$ref" 'BEGIN { printf "%.0f", n / s }') | $rss | | 1.00× |"
    for which in ${BEFORE:+before} after; do
        path=$ROOT/src
        [[ $which == before ]] && path=$BEFORE
        store=${STORE:-$DIR/store-synth.sqlite3}
        [[ $which == before && -n ${BEFORE_STORE:-} ]] && store=$BEFORE_STORE
        cp "$store" "$RUN/store.sqlite3"
        rm -f "$RUN/store.sqlite3-wal" "$RUN/store.sqlite3-shm"
        read -r secs rss cpu wrote <<< "$(PYTHONPATH=$path measure "ingest.$which.$round" "$BIN/python" bench/io_of.py ingest --quiet --db "sqlite:///$RUN/store.sqlite3" "${MAIL[@]}")"
        echo "| $round | $which: mail log | $mail_lines | $secs | $cpu | $(awk -v n="$mail_lines" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') | $rss | $wrote | $(awk -v a="$ref" -v b="$secs" 'BEGIN { printf "%.2f×", a / b }') |"
        read -r secs rss cpu wrote <<< "$(PYTHONPATH=$path measure "quota.$which.$round" "$BIN/python" bench/io_of.py ingest --quiet --db "sqlite:///$RUN/store.sqlite3" "${QUOTA[@]}")"
        echo "| $round | $which: quota report | $quota_lines | $secs | $cpu | $(awk -v n="$quota_lines" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') | $rss | $wrote | |"
    done
done
echo "load: $(uptime | sed 's/.*load average: //')" >&2
rm -f "$RUN"/store.sqlite3*
