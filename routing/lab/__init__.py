"""The netns lab: a miniature of a cluster built from Linux network namespaces, programmed
with the rules Routescope renders, to check its predictions with real packets.

Django-free but not pure (it runs ``ip``, ``iptables-restore`` and ``nft``), so it lives
outside ``routing.engine``. Needs root. Only addresses inside namespaces it creates are
ever used; nothing is attached to the host's own network namespace.
"""
