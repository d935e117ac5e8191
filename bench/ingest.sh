#!/usr/bin/env bash
# The ingestion benchmark of issue 3 (bench/RESULTS.md): `make bench-ingest`, or
#
#   bash bench/ingest.sh            # LINES=1000000 by default
#
# Generates a realistic mixed mail log with `mailtally synth` (rotated files, the
# oldest compressed, plus Roundcube's log and a quota report) and its platform in
# a fresh store, then in one run:
#   1. pflogsumm (Debian's package) over the same mail logs, decompressed, and
#   2. `mailtally ingest` over the same files into the store (parse, join,
#      attribute, committed), with the compiled parser and joiner, and
#   3. the same with MAILTALLY_PURE_PYTHON=1 (the Python reference), into a copy,
# each under /usr/bin/time -v for wall time and peak RSS.  Prints a markdown row
# per tool with lines/s and the ratio.  Target: mailtally >= 4x pflogsumm's
# lines/s, peak RSS < 300 MB.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
LINES=${LINES:-1000000}
SEED=${SEED:-1}

command -v pflogsumm >/dev/null || { echo "ingest.sh: needs pflogsumm (apt-get install -y pflogsumm)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "ingest.sh: needs /usr/bin/time (apt-get install -y time)" >&2; exit 1; }
[[ -x $BIN/mailtally ]] || { echo "ingest.sh: no $BIN/mailtally; run make venv" >&2; exit 1; }

mkdir -p bench/out
OUT=$(mktemp -d "$ROOT/bench/out/ingest.XXXXXX")
DB="sqlite:///$OUT/store.sqlite3"

echo "synth: $LINES lines into $OUT" >&2
"$BIN/mailtally" synth --out "$OUT/logs" --lines "$LINES" --seed "$SEED" --db "$DB" >&2

cp "$OUT/store.sqlite3" "$OUT/store-python.sqlite3"

# the mail logs, oldest first (what pflogsumm reads); mailtally also reads the
# Roundcube log and quota reports synth wrote
MAIL=() OTHER=()
for f in $(ls "$OUT/logs" | grep '^mail\.log' | sort -t. -k3,3nr); do MAIL+=("$OUT/logs/$f"); done
# Roundcube's log and the quota reports (in subfolders), oldest report first
mapfile -t OTHER < <(find "$OUT/logs" -mindepth 2 -type f | sort)
ALL=("${MAIL[@]}" "${OTHER[@]}")
total_lines=$(zcat -f "${ALL[@]}" | wc -l)
mail_lines=$(zcat -f "${MAIL[@]}" | wc -l)
bytes=$(zcat -f "${ALL[@]}" | wc -c)

measure() {  # measure NAME CMD... -> "seconds rss_kb"
    local name=$1; shift
    /usr/bin/time -v -o "$OUT/$name.time" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
    local secs rss
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$OUT/$name.time" \
        | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/$name.time")
    echo "$secs $rss"
}

# pflogsumm reads one stream; zcat -f decompresses the .gz files as it goes
read -r p_secs p_rss < <(measure pflogsumm bash -c "zcat -f ${MAIL[*]} | pflogsumm")
read -r m_secs m_rss < <(measure mailtally "$BIN/mailtally" ingest --quiet --db "$DB" "${ALL[@]}")
tail -n 3 "$OUT/mailtally.out" >&2
# for scale: the pure-Python parser and joiner (the reference the compiled ones
# are tested against), into a copy of the store as synth left it
read -r y_secs y_rss < <(measure python env MAILTALLY_PURE_PYTHON=1 \
    "$BIN/mailtally" ingest --quiet --db "sqlite:///$OUT/store-python.sqlite3" "${ALL[@]}")

python3 - "$mail_lines" "$p_secs" "$p_rss" "$total_lines" "$m_secs" "$m_rss" "$bytes" \
    "$y_secs" "$y_rss" <<'PY'
import sys
mail_lines, p_secs, p_rss, total, m_secs, m_rss, nbytes, y_secs, y_rss = sys.argv[1:]
p_rate = int(mail_lines) / float(p_secs)
m_rate = int(total) / float(m_secs)
print(f"input: {int(total):,} lines ({int(nbytes) / 2**20:.0f} MiB uncompressed); "
      f"pflogsumm reads the {int(mail_lines):,} mail-log lines of them")
print()
print("| tool | lines | wall s | lines/s | peak RSS MB | vs pflogsumm |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| pflogsumm | {int(mail_lines):,} | {float(p_secs):.2f} | {p_rate:,.0f} | "
      f"{int(p_rss) / 1024:.0f} | 1.00x |")
print(f"| mailtally ingest | {int(total):,} | {float(m_secs):.2f} | {m_rate:,.0f} | "
      f"{int(m_rss) / 1024:.0f} | {m_rate / p_rate:.2f}x |")
y_rate = int(total) / float(y_secs)
print(f"| mailtally ingest, pure Python | {int(total):,} | {float(y_secs):.2f} | {y_rate:,.0f} | "
      f"{int(y_rss) / 1024:.0f} | {y_rate / p_rate:.2f}x |")
print()
print(f"target >= 4x pflogsumm: {'met' if m_rate >= 4 * p_rate else 'NOT met'}; "
      f"peak RSS < 300 MB: {'met' if int(m_rss) < 300 * 1024 else 'NOT met'}")
PY
echo "(output kept in $OUT)" >&2
