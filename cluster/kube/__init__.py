"""Everything Routescope says to a Kubernetes API server goes through this package."""
