"""The one what-if door.

- ``value``: the parsed, immutable ``WhatIf`` (from a stored scenario, the API's ``set`` or
  the CLI's ``--set``), checked against the field table ``routing.engine.whatif_fields``;
- ``preview``: the one ``preview`` / ``ask`` the API, the pages, the CLI and apply call,
  with one node-grouping rule;
- ``errors``: the one translation of the engine's structured errors into request errors;
- ``cli``: the command line's ``--set`` and its one-line, exit-2 refusals.

``value``, ``preview`` and ``errors`` are plain Python over the engine (no Django).
"""
