"""Settings split: ``base`` plus ``local`` (default), ``test`` and ``production`` overrides."""
