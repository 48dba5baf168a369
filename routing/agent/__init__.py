"""Node agents: read a node's actual kube-proxy rules and report drift from the rules
Routescope predicts for it. Read-only unless a worker is started with an explicit
write flag (the lab does; production nodes never need to)."""
