"""The ``routescope`` console command (``main``): ``simulate | analyze | whatif |
render-rules`` on a dump file without booting Django, or against a server's REST API with
``--server URL --token T``. Both modes print the API's JSON (``-o json``).

- ``local``: the file-mode answers (cluster.plan / the engine / the what-if door);
- ``remote``: the same questions over HTTP (standard library only);
- ``output``: ``-o json|yaml|table|markdown``;
- ``errors``: exit codes (0 ok, 1 check failed, 2 bad input) and the one-line refusal.

Nothing here imports Django (an import-linter contract in pyproject.toml keeps it so).
"""
