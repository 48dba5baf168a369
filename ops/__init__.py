"""Operations: health and readiness probes, Prometheus metrics, JSON logs, worker ping.

Nothing here changes data; every check and metric reads what other apps stored."""
