# shellcheck shell=bash
# Sourced by .ci/test: starts a throwaway redis-server on 127.0.0.1 on a free port, with
# persistence off, and exports MEMO_REDIS_URL for the tests; `stop_redis` shuts it down (call
# it from a trap). Installs redis-server (and redis-cli, from redis-tools) from Debian's
# packages when missing. Safe under `set -euo pipefail`.

memo_redis_install() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
        return 0
    fi
    echo "redis.sh: installing redis-server from Debian's packages" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        redis-server redis-tools >/dev/null
}

# Whether something accepts connections on 127.0.0.1:$1.
memo_redis_port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts a daemonized server on port $1; succeeds once it answers PING.
memo_redis_start_on() {
    local port=$1
    redis-server --port "$port" --bind 127.0.0.1 \
        --save "" --appendonly no \
        --daemonize yes --dir "$MEMO_REDIS_DIR" \
        --pidfile "$MEMO_REDIS_DIR/redis.pid" --logfile "$MEMO_REDIS_DIR/redis.log" \
        >/dev/null || return 1
    local _
    for _ in $(seq 1 100); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Whether process $1 runs (a zombie waiting for its reaper does not).
memo_redis_alive() {
    [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null
}

stop_redis() {
    if [ -n "${MEMO_REDIS_PORT:-}" ]; then
        redis-cli -h 127.0.0.1 -p "$MEMO_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    fi
    if [ -n "${MEMO_REDIS_DIR:-}" ]; then
        local pidfile="$MEMO_REDIS_DIR/redis.pid" pid _
        if [ -f "$pidfile" ]; then
            pid=$(cat "$pidfile")
            for _ in $(seq 1 50); do
                memo_redis_alive "$pid" || break
                sleep 0.1
            done
            if memo_redis_alive "$pid"; then
                kill -9 "$pid" 2>/dev/null || true
            fi
        fi
        rm -rf "$MEMO_REDIS_DIR"
    fi
    unset MEMO_REDIS_PORT MEMO_REDIS_DIR MEMO_REDIS_URL
}

memo_redis_install
MEMO_REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/memo-redis.XXXXXX")
MEMO_REDIS_PORT=""
for memo_redis_try in $(seq 1 20); do
    memo_redis_port=$((20000 + RANDOM % 40000))
    if memo_redis_port_busy "$memo_redis_port"; then
        continue
    fi
    if memo_redis_start_on "$memo_redis_port"; then
        MEMO_REDIS_PORT=$memo_redis_port
        break
    fi
    # Another process took the port first, or the server did not come up: try another.
    if [ -f "$MEMO_REDIS_DIR/redis.pid" ]; then
        kill -9 "$(cat "$MEMO_REDIS_DIR/redis.pid")" 2>/dev/null || true
        rm -f "$MEMO_REDIS_DIR/redis.pid"
    fi
done
unset memo_redis_try memo_redis_port
if [ -z "$MEMO_REDIS_PORT" ]; then
    echo "redis.sh: could not start redis-server; its log:" >&2
    cat "$MEMO_REDIS_DIR/redis.log" >&2 2>/dev/null || true
    stop_redis
    return 1
fi
export MEMO_REDIS_URL="redis://127.0.0.1:$MEMO_REDIS_PORT/"
echo "redis.sh: redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') at $MEMO_REDIS_URL" >&2
