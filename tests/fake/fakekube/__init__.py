"""Fake Kubernetes API server for kubectl-vault_ha's tests (see tests/fake/README.md)."""
