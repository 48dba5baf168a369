"""``json.loads`` by msgspec (C) where it can, the standard library where msgspec refuses.

Pure (no Django). For JSON that is not a dump file (the API server's list pages and watch
events, the stored ``raw`` columns): msgspec decodes it several times faster, and whatever
it refuses (NaN and infinities, numbers past a float, lone surrogate escapes, invalid
JSON) goes to ``json.loads``, which then accepts it or words the refusal, so acceptance and
wording stay the standard library's. Where both read a text they give the same values
(``cluster/tests/test_sync.py``, ``routing/tests/test_analysis_shard_rows.py``).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``: the same value, or the same ``json.JSONDecodeError``."""
    try:
        return _decode(data)
    except msgspec.MsgspecError:
        return json.loads(data)
