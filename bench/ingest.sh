#!/usr/bin/env bash
# The ingestion benchmark of issues 3 and 8 (bench/RESULTS.md): `make bench-ingest`, or
#
#   bash bench/ingest.sh                  # LINES=1000000, both platforms
#   MTAS=postfix bash bench/ingest.sh     # only the Postfix platform (issue 3's run)
#   PURE=0 bash bench/ingest.sh           # without the pure-Python rows
#   REPEAT=1 bash bench/ingest.sh         # one round instead of the best of three
#
# For each platform in MTAS, generates a realistic mixed mail log with
# `mailtally synth --mta MTA` (rotated files, the oldest compressed, plus
# Roundcube's log and the quota reports) and its platform in a fresh store, then
# in one run, each under /usr/bin/time -v for wall time and peak RSS:
#   1. the MTA's own log summariser over its log, decompressed: pflogsumm over
#      the Postfix platform's mail logs, eximstats over the Exim platform's
#      mainlogs (Debian's pflogsumm and exim4-base);
#   2. `mailtally ingest` over every file synth wrote (truth.json's order) into
#      the store (parse, join, attribute, committed), compiled parser and joiner;
#   (1 and 2 one after the other, REPEAT times: the best wall time of each, since a
#   shared machine's other load only adds to a run, and the largest peak RSS)
#   3. the same with MAILTALLY_PURE_PYTHON=1 (the Python reference), into a copy.
# Prints a markdown table: lines/s of each tool over its own input and the ratio
# to the summariser of the same log.  Targets: mailtally >= 4x the summariser's
# lines/s, peak RSS < 300 MB.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
LINES=${LINES:-1000000}
SEED=${SEED:-1}
MTAS=${MTAS:-postfix exim}
PURE=${PURE:-1}
REPEAT=${REPEAT:-3}

[[ -x /usr/bin/time ]] || { echo "ingest.sh: needs /usr/bin/time (apt-get install -y time)" >&2; exit 1; }
[[ -x $BIN/mailtally ]] || { echo "ingest.sh: no $BIN/mailtally; run make venv" >&2; exit 1; }
for mta in $MTAS; do
    case $mta in
        postfix) tool=pflogsumm pkg=pflogsumm ;;
        exim) tool=eximstats pkg=exim4-base ;;
        *) echo "ingest.sh: MTAS: postfix and/or exim, not $mta" >&2; exit 1 ;;
    esac
    command -v $tool >/dev/null || [[ -x /usr/sbin/$tool ]] \
        || { echo "ingest.sh: needs $tool (apt-get install -y $pkg)" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin

mkdir -p bench/out
RUN=$(mktemp -d "$ROOT/bench/out/ingest.XXXXXX")
ROWS=$RUN/rows.tsv
: > "$ROWS"

measure() {  # measure DIR NAME CMD... -> "seconds rss_kb"
    local dir=$1 name=$2; shift 2
    /usr/bin/time -v -o "$dir/$name.time" "$@" > "$dir/$name.out" 2> "$dir/$name.err" \
        || { echo "ingest.sh: $name failed (see $dir/$name.err)" >&2; exit 1; }
    local secs rss
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir/$name.time" \
        | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/$name.time")
    echo "$secs $rss"
}

best() {  # best OLD NEW -> the smaller (OLD may be empty)
    if [[ -z $1 ]] || awk -v a="$2" -v b="$1" 'BEGIN { exit !(a < b) }'; then echo "$2"; else echo "$1"; fi
}

row() {  # row MTA ROLE TOOL LINES SECS RSS: ROLE ref (the summariser of the log), alt
    # (a summariser on a converted copy), ours (mailtally, compared with both)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$bytes" "$total_lines" >> "$ROWS"
}

for mta in $MTAS; do
    OUT=$RUN/$mta
    mkdir -p "$OUT"
    DB="sqlite:///$OUT/store.sqlite3"
    echo "synth --mta $mta: $LINES lines into $OUT" >&2
    /usr/bin/time -f "synth: %e s, %M KB" "$BIN/mailtally" synth --mta "$mta" --out "$OUT/logs" \
        --lines "$LINES" --seed "$SEED" --db "$DB" > "$OUT/synth.out"
    cp "$OUT/store.sqlite3" "$OUT/store-synth.sqlite3"

    # every file synth wrote, in the order truth.json lists them (oldest first); the
    # summariser reads the mail logs (syslog: Postfix's, or Exim's with spamd's and
    # Dovecot's lines, which eximstats skips), not Roundcube's log or the quota reports
    mapfile -t ALL < <("$BIN/python" -c 'import json, sys; [print(f"{sys.argv[1]}/{f}") for f in json.load(open(f"{sys.argv[1]}/truth.json"))["files"]]' "$OUT/logs")
    mapfile -t OWN < <(printf '%s\n' "${ALL[@]}" | grep -E '/mail\.log[^/]*$')
    total_lines=$(zcat -f "${ALL[@]}" | wc -l)
    own_lines=$(zcat -f "${OWN[@]}" | wc -l)
    bytes=$(zcat -f "${ALL[@]}" | wc -c)
    # (tool name, command) of the summariser of the log, and of a converted copy
    case $mta in
        postfix) tools=(pflogsumm "zcat -f ${OWN[*]} | pflogsumm") ;;
        exim)
            # Debian 12's eximstats (1.61) takes a line that begins with four digits for
            # Exim's own main log (so it skips syslog lines with an RFC 3339 stamp) and
            # reads 16-character message ids at fixed offsets (so it skips the lines of
            # 4.97's 23-character ids). The same Exim lines as Exim's own main log with
            # 4.96 ids (converted here, not timed) are what it reads in full.
            zcat -f "${OWN[@]}" | sed -nE 's/^.* exim\[[0-9]+\]: //p' \
                | sed -E 's/^([0-9-]+ [0-9:]+ )([0-9A-Za-z]{6})-[0-9A-Za-z]{5}([0-9A-Za-z]{6})-[0-9A-Za-z]{2}([0-9A-Za-z]{2}) /\1\2-\3-\4 /' \
                > "$OUT/mainlog-4.96"
            tools=(eximstats "zcat -f ${OWN[*]} | eximstats"
                   "eximstats, Exim's lines as its own mainlog (4.96 ids)" "eximstats $OUT/mainlog-4.96")
            ;;
    esac

    # REPEAT rounds, the tools one after the other in each; the best time of each (the
    # machine's other load only ever adds to a run) and the largest peak RSS
    declare -A best_s=() best_rss=()
    names=("${tools[0]}" mailtally)
    [[ ${#tools[@]} == 4 ]] && names+=("${tools[2]}")
    for ((i = 1; i <= REPEAT; i++)); do
        for ((k = 0; k < ${#names[@]}; k++)); do
            name=${names[$k]}
            if [[ $name == mailtally ]]; then
                cp "$OUT/store-synth.sqlite3" "$OUT/store.sqlite3"
                res=$(measure "$OUT" mailtally "$BIN/mailtally" ingest --quiet --db "$DB" "${ALL[@]}")
            else
                res=$(measure "$OUT" "tool$k" bash -c "${tools[$((k == 0 ? 1 : 3))]}")
            fi
            read -r secs rss <<< "$res"
            best_s[$name]=$(best "${best_s[$name]:-}" "$secs")
            ((rss > ${best_rss[$name]:-0})) && best_rss[$name]=$rss
        done
        echo "round $i: $(for n in "${names[@]}"; do printf '%s %s s; ' "$n" "${best_s[$n]}"; done)(best so far)" >&2
    done
    tail -n 3 "$OUT/mailtally.out" >&2
    row "$mta" ref "${tools[0]}" "$own_lines" "${best_s[${tools[0]}]}" "${best_rss[${tools[0]}]}"
    row "$mta" ours "mailtally ingest" "$total_lines" "${best_s[mailtally]}" "${best_rss[mailtally]}"
    if [[ ${#tools[@]} == 4 ]]; then
        row "$mta" alt "${tools[2]}" "$(wc -l < "$OUT/mainlog-4.96")" "${best_s[${tools[2]}]}" "${best_rss[${tools[2]}]}"
    fi
    if [[ $PURE == 1 ]]; then
        # for scale: the pure-Python parser and joiner (the reference the compiled ones
        # are tested against), into a copy of the store as synth left it
        cp "$OUT/store-synth.sqlite3" "$OUT/store-python.sqlite3"
        res=$(measure "$OUT" python env MAILTALLY_PURE_PYTHON=1 \
            "$BIN/mailtally" ingest --quiet --db "sqlite:///$OUT/store-python.sqlite3" "${ALL[@]}")
        read -r y_secs y_rss <<< "$res"
        row "$mta" python "mailtally ingest, pure Python" "$total_lines" "$y_secs" "$y_rss"
    fi
    unset best_s best_rss
done

"$BIN/python" - "$ROWS" <<'PY'
import sys

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
rate = {(r[0], r[1]): int(r[3]) / float(r[4]) for r in rows}
tool = {(r[0], r[1]): r[2] for r in rows}
print("| log | tool | lines | wall s | lines/s | peak RSS MB | ratio |")
print("|---|---|---:|---:|---:|---:|---:|")
verdicts = []
for mta, role, name, lines, secs, rss, nbytes, total in rows:
    log = f"{mta}, {int(total):,} lines ({int(nbytes) / 2**20:.0f} MiB)" if role == "ref" else mta
    r = rate[mta, role]
    if role in ("ref", "alt"):
        ratio = f"{rate[mta, 'ours'] / r:.2f}×"
    else:
        ratio = f"{r / rate[mta, 'ref']:.2f}×"
    if role == "ours":
        ratio = f"**{ratio}**"
    print(f"| {log} | {name} | {int(lines):,} | {float(secs):.2f} | {r:,.0f} | "
          f"{int(rss) / 1024:.0f} | {ratio} |")
    if role in ("ref", "alt"):
        x = rate[mta, "ours"] / r
        verdicts.append(f"{mta}: mailtally ingest >= 4x {name}: {'met' if x >= 4 else 'NOT met'} ({x:.2f}x)")
    if role == "ours":
        verdicts.append(f"{mta}: mailtally ingest peak RSS < 300 MB: {'met' if int(rss) < 300 * 1024 else 'NOT met'}")
print()
print("\n".join(verdicts))
PY
echo "(output kept in $RUN)" >&2
