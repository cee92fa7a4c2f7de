#!/bin/sh
# Starts a throwaway redis-server on 127.0.0.1:PORT in the background (no
# persistence), waits until it answers PING, and prints its pid. Exits 0
# without doing anything when redis-server is not installed, so CI without
# Redis still runs (the Redis tests skip themselves).
# Usage: test/ops/start-redis.sh PORT [PIDFILE]
set -eu
port="${1:?usage: start-redis.sh PORT [PIDFILE]}"
pidfile="${2:-}"
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not installed; skipping" >&2
  exit 0
fi
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize no --loglevel warning >/dev/null 2>&1 &
pid=$!
[ -n "$pidfile" ] && echo "$pid" >"$pidfile"
i=0
while [ $i -lt 100 ]; do
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && { echo "$pid"; exit 0; }
  elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "$pid"; exit 0
  fi
  i=$((i + 1))
  sleep 0.1
done
echo "redis-server did not answer on 127.0.0.1:$port" >&2
kill "$pid" 2>/dev/null || true
exit 1
