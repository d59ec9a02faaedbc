"""Simulated HashiCorp Vault / OpenBao HA cluster (Raft storage, Helm chart) for the fake
Kubernetes API server. See cluster.py for the contract and docs/vault-cli.md for the facts
it reproduces.

VaultCluster is imported lazily: the simulated `vault` executable imports vaultsim.cli on every
run and must not pay for aiohttp/cryptography."""

__all__ = ["VaultCluster"]


def __getattr__(name):
    if name == "VaultCluster":
        from .cluster import VaultCluster
        return VaultCluster
    raise AttributeError(name)
