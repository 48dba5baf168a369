#!/bin/sh
# The image's entry point: the role by its first argument.
#   web      gunicorn on 0.0.0.0:$PORT (8000)     worker   celery worker (default queue)
#   beat     celery beat (run exactly one)         agent    node agent (python -m routing.agent)
#   migrate  manage.py migrate                     manage   manage.py ARGS...
# Anything else is run as given.
set -eu
role="${1:-web}"
[ $# -gt 0 ] && shift
case "$role" in
  web)
    exec gunicorn config.wsgi --bind "0.0.0.0:${PORT:-8000}" --workers "${WEB_WORKERS:-2}" \
      --threads "${WEB_THREADS:-4}" --timeout 120 --worker-tmp-dir /tmp --access-logfile - "$@" ;;
  worker)
    exec celery -A config worker --loglevel "${LOG_LEVEL:-INFO}" --concurrency "${WORKER_CONCURRENCY:-2}" "$@" ;;
  beat)
    exec celery -A config beat --loglevel "${LOG_LEVEL:-INFO}" --schedule /tmp/celerybeat-schedule "$@" ;;
  agent)
    exec python -m routing.agent "$@" ;;
  migrate)
    exec python manage.py migrate --noinput "$@" ;;
  manage)
    exec python manage.py "$@" ;;
  *)
    exec "$role" "$@" ;;
esac
