"""The one what-if door: the parsed ``WhatIf`` value, the one ``preview`` / ``ask``, and
the one translation of engine errors into request errors. Pure Python over the engine
(no Django); the API, the pages, the CLI and apply all come through here."""
