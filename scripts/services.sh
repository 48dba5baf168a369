#!/usr/bin/env bash
# Start the services the tests talk to when they are not already running (this machine
# kind runs them before a session; a fresh machine gets them from scripts/sysdeps.sh).
set -euo pipefail
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
case "${DATABASE_URL:-}" in
  postgres*)
    if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      echo "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    fi
    ;;
esac
