"""Test helpers that talk real protocols: a Kubernetes API server written for the tests."""
