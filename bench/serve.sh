# Sourced by the benchmarks that run `mailtally serve` (api.sh, sweep.sh): start it
# on a free port and wait until it answers, stop it at the end.  Needs BIN.

SERVER_PID=""

# start_server DB LOG [TRIES]: serve DB on 127.0.0.1 (its output in LOG); sets PORT,
# URL (…/api) and SERVER_PID once `echo` answers (TRIES × 0.1 s at most, default 150);
# exits with the server's log if it dies first.  WORKERS (default 1): server
# processes (`mailtally serve --workers`; SERVER_PID is their supervisor).  SERVE_ARGS:
# more arguments for `mailtally serve` (split on spaces).
start_server() {
    local db=$1 log=$2 tries=${3:-150}
    PORT=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    URL="http://127.0.0.1:$PORT/api"
    "$BIN/mailtally" serve --db "$db" --host 127.0.0.1 --port "$PORT" \
        --workers "${WORKERS:-1}" ${SERVE_ARGS:-} >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq "$tries"); do
        if curl -s -X POST "$URL/echo" -d '{}' 2>/dev/null | grep -q '"success":true'; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.1
    done
}

# wait_workers [TRIES]: with WORKERS > 1, wait (TRIES × 0.1 s at most, default 300) until
# every worker listens: has a listening socket on PORT in its epoll set.  `echo` answering
# means one worker is up; a benchmark begun before the others are would hand the first
# one every connection of its burst.
wait_workers() {
    local tries=${1:-300} pid ready inodes
    ((${WORKERS:-1} > 1)) || return 0
    for _ in $(seq "$tries"); do
        # the listening sockets on PORT: one shared, or one a worker (SO_REUSEPORT)
        inodes=$(ss -ltneH "sport = :$PORT" | grep -o 'ino:[0-9]*' | cut -d: -f2 \
            | while read -r i; do printf 'ino:%x \n' "$i"; done)
        ready=0
        for pid in $(pgrep -P "$SERVER_PID"); do
            if [[ -n $inodes ]] && grep -qsF "$inodes" /proc/"$pid"/fdinfo/*; then
                ready=$((ready + 1))
            fi
        done
        ((ready >= WORKERS)) && return 0
        sleep 0.1
    done
    echo "wait_workers: not every worker listens after $tries tries" >&2
}

# stop_server: SIGTERM (the server flushes its counts) and wait; safe to call twice.
stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

# demo_out NAME: a fresh directory bench/out/NAME.XXXXXX (sets OUT) holding the
# demo platform (sets DB); the server is stopped when the script exits.  Needs ROOT.
demo_out() {
    mkdir -p "$ROOT/bench/out"
    OUT=$(mktemp -d "$ROOT/bench/out/$1.XXXXXX")
    DB="sqlite:///$OUT/demo.sqlite3"
    trap stop_server EXIT
    echo "$1.sh: building the demo platform in $OUT" >&2
    "$BIN/mailtally" demo --db "$DB" --force >"$OUT/demo.txt"
}
