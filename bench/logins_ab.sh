#!/bin/sh
# SQLite's lastlogin in a narrow table (migration 15) against the code of BASE
# (c88968d): the 100k fixture's store copied twice, each migrated by its own
# code, the fixture's day of logs ingested into each, alternated, PAIRS times;
# then bench/store_digest.py of both.  Prints /usr/bin/time -v's CPU, peak RSS,
# io_of's bytes written (wchar) and uptime beside each.
#   sh bench/logins_ab.sh [PAIRS]    (run in the worktree; bench/out/base holds
#   `git archive c88968d src` with the compiled extension copied in)
set -eu
PAIRS=${1:-2}
OUT=bench/out
LOGS=/work/fixture-100k/logs
FILES="$LOGS/mail.log.3.gz $LOGS/mail.log.2.gz $LOGS/mail.log.1 $LOGS/mail.log"
run() {  # run NAME SRC: migrate and ingest $OUT/NAME.sqlite3 with the code of SRC
    db=$OUT/$1.sqlite3
    echo "== $1 $(uptime)"
    PYTHONPATH=$2 /usr/bin/time -f "migrate: %e s wall %U+%S s cpu" \
        .venv/bin/python bench/io_of.py migrate --db "sqlite:///$db" 2>&1 | tail -2
    PYTHONPATH=$2 /usr/bin/time -v .venv/bin/python bench/io_of.py ingest --quiet \
        --db "sqlite:///$db" $FILES 2>&1 |
        grep -E "io_of|Elapsed|User time|System time|Maximum resident|File system outputs"
}
for p in $(seq "$PAIRS"); do
    cp /work/fixture-100k/store-v10.sqlite3 $OUT/base.sqlite3
    cp /work/fixture-100k/store-v10.sqlite3 $OUT/logins.sqlite3
    if [ $((p % 2)) = 1 ]; then
        run base $OUT/base/src; run logins src
    else
        run logins src; run base $OUT/base/src
    fi
    .venv/bin/python bench/store_digest.py $OUT/base.sqlite3 $OUT/logins.sqlite3 |
        sed "s|$OUT/||"
    ls -l $OUT/base.sqlite3 $OUT/logins.sqlite3 | awk '{print $5, $9}'
done
rm -f $OUT/base.sqlite3* $OUT/logins.sqlite3*
