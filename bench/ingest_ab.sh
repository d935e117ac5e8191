#!/usr/bin/env bash
# The lead's issue-9 ingest measurement, before and after in the same minutes:
#
#   BEFORE=/path/to/old/src STORE=FILE REPEAT=2 bash bench/ingest_ab.sh DIR
#
# DIR: the 100,000-account fixture (DIR/logs/mail.log*); STORE: a store already
# migrated to this schema (copied fresh for every run, never written to);
# BEFORE_STORE: the same store migrated by BEFORE's code, where its schema is
# older (default STORE);
# BEFORE: a `src` of another commit (`git archive COMMIT src | tar -x -C D`, the
# compiled extension copied in), run through this venv's console script with it
# first on PYTHONPATH.  Each round: pflogsumm over the same files, then before,
# then after, each under /usr/bin/time (wall, user, sys, peak RSS); the load
# before each run.
#
# Both `src` trees are byte-compiled first (`compileall`, into their
# __pycache__): an installed mailtally has its .pyc files (pip compiles them),
# while a run from a source tree under PYTHONDONTWRITEBYTECODE=1 (this
# machine's sessions) compiles every module again, ~0.15-0.2 s of each run
# that no operator pays (bench/RESULTS.md, session 10).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DIR=${1:?usage: bench/ingest_ab.sh DIR}
STORE=${STORE:?STORE=a migrated store}
BEFORE_STORE=${BEFORE_STORE:-$STORE}
REPEAT=${REPEAT:-1}
FILES=(mail.log.3.gz mail.log.2.gz mail.log.1 mail.log)
mkdir -p bench/out
COPY=$ROOT/bench/out/ingest_ab.sqlite3
for tree in "$ROOT/src" ${BEFORE:+"$BEFORE"}; do
    "$ROOT/.venv/bin/python" -m compileall -q "$tree" > /dev/null
done
cd "$DIR/logs"
for round in $(seq 1 "$REPEAT"); do
    echo "round $round, load $(uptime | sed 's/.*load average: //')"
    /usr/bin/time -f "  pflogsumm %e s wall, %U user %S sys, %M KB" \
        bash -c "zcat -f ${FILES[*]} | pflogsumm > /dev/null"
    for which in ${BEFORE:+before} after; do
        path=$ROOT/src
        from=$STORE
        [[ $which == before ]] && path=$BEFORE && from=$BEFORE_STORE
        cp "$from" "$COPY"
        rm -f "$COPY-wal" "$COPY-shm"
        sync
        echo "  load $(uptime | sed 's/.*load average: //')"
        PYTHONPATH=$path /usr/bin/time -f "  $which %e s wall, %U user %S sys, %M KB" \
            "$ROOT/.venv/bin/mailtally" ingest --quiet --db "sqlite:///$COPY" "${FILES[@]}" > /dev/null
    done
done
rm -f "$COPY" "$COPY-wal" "$COPY-shm"
