"""Self-test of the fake cluster with the REAL kubectl: the manual runbook of docs/design.md §1,
done the way an operator does it by hand, through the fake Kubernetes API server and the
simulated Vault. Every output is checked against docs/vault-cli.md.

Uses tests/fake/harness.py's FakeCluster (context manager with .kubeconfig). kubectl is run with
that kubeconfig directly so that binary stdout (the snapshot) stays bytes."""
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time

import pytest

harness = pytest.importorskip("harness", reason="tests/fake/harness.py (the fake API server) is not there yet")

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
NS = "vault"
PODS = ["vault-0", "vault-1", "vault-2"]


def open_cluster(tmp_path):
    """FakeCluster(state_dir, *fakecluster args) with short simulator delays (--vault-opt)."""
    return harness.FakeCluster(tmp_path / "fake", "--vault-opt", "stabilization_seconds=1",
                               "--vault-opt", "election_seconds=0.5")


class Kubectl:
    def __init__(self, kubeconfig):
        self.kubeconfig = str(kubeconfig)

    def __call__(self, *args, input=None, timeout=60):
        return subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig] + list(args), input=input,
                              capture_output=True, timeout=timeout)

    def vault(self, pod, *args, input=None, stdin=False):
        flags = ["-i"] if (stdin or input is not None) else []
        return self("exec", *flags, pod, "-n", NS, "--", "vault", *args, input=input)

    def with_token(self, pod, token, command):
        """docs/vault-cli.md §6.2 token passing: a stdin line read by sh into VAULT_TOKEN, then exec vault."""
        script = "IFS= read -r VAULT_TOKEN && export VAULT_TOKEN && exec vault " + command
        return self("exec", "-i", pod, "-n", NS, "--", "sh", "-c", script, input=(token + "\n").encode())


def status(k, pod):
    r = k.vault(pod, "status", "-format=json")
    assert r.returncode in (0, 2), r.stderr
    return json.loads(r.stdout)


def wait_for(pred, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def test_runbook_with_real_kubectl(tmp_path):
    with open_cluster(tmp_path) as fc:
        k = Kubectl(fc.kubeconfig)

        # 2. init (docs/vault-cli.md §2): machineInit JSON, 5 shares of 44/66 chars, hvs. token, still sealed.
        r = k.vault("vault-0", "operator", "init", "-format=json")
        assert r.returncode == 0, r.stderr
        init = json.loads(r.stdout)
        assert len(init["unseal_keys_b64"]) == 5 and all(len(x) == 44 for x in init["unseal_keys_b64"])
        assert init["unseal_threshold"] == 3 and init["root_token"].startswith("hvs.")
        assert init["recovery_keys_b64"] == [] and init["recovery_keys_shares"] == 0
        st = status(k, "vault-0")
        assert st["initialized"] and st["sealed"]
        r = k.vault("vault-0", "status")
        assert r.returncode == 2                          # docs/vault-cli.md §1: sealed -> exit 2 through kubectl exec

        # 3. unseal vault-0 with 3 of the 5 keys (docs/vault-cli.md §3: exit 0 while still sealed).
        for n, key in enumerate(init["unseal_keys_b64"][1:4]):
            r = k.vault("vault-0", "operator", "unseal", "-format=json", key)
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["sealed"] is (n < 2)
        wait_for(lambda: status(k, "vault-0").get("is_self"), what="vault-0 active")

        # 4. join vault-1 and vault-2 and unseal them (docs/vault-cli.md §4 join; §3 raft join + Shamir).
        for pod in ("vault-1", "vault-2"):
            r = k.vault(pod, "operator", "raft", "join", "http://vault-0.vault-internal:8200")
            assert r.returncode == 0, r.stderr
            assert r.stdout.split() == [b"Key", b"Value", b"---", b"-----", b"Joined", b"true"]
            st = status(k, pod)
            assert st["initialized"] and st["sealed"] and (st["t"], st["n"]) == (3, 5)
            for key in (init["unseal_keys_b64"][0], init["unseal_keys_b64"][2], init["unseal_keys_b64"][4]):
                assert k.vault(pod, "operator", "unseal", key).returncode == 0
            wait_for(lambda: not status(k, pod)["sealed"], what="%s unsealed" % pod)

        # 5. list-peers: one leader, two followers, all voters after stabilization (docs/vault-cli.md §4.1 + §10.1).
        def peers():
            r = k.with_token("vault-0", init["root_token"], "operator raft list-peers -format=json")
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout)["data"]["config"]["servers"]
        servers = wait_for(lambda: (lambda s: s if all(x["voter"] for x in s) else None)(peers()),
                           what="all voters")
        assert sorted(x["address"] for x in servers) == ["%s.vault-internal:8201" % p for p in PODS]
        assert sum(x["leader"] for x in servers) == 1
        table = k.with_token("vault-1", init["root_token"], "operator raft list-peers").stdout.decode()
        assert table.split("\n")[0].split() == ["Node", "Address", "State", "Voter"]
        assert table.count("follower") == 2 and table.count("leader") == 1

        # 6. snapshot save to /dev/stdout over exec (docs/vault-cli.md §5): a gzip tar with valid SHA256SUMS.
        r = k.with_token("vault-0", init["root_token"], "operator raft snapshot save /dev/stdout")
        assert r.returncode == 0, r.stderr
        backup = tmp_path / "backup.snap"
        backup.write_bytes(r.stdout)
        tf = tarfile.open(fileobj=io.BytesIO(backup.read_bytes()), mode="r:gz")
        assert tf.getnames() == ["meta.json", "state.bin", "SHA256SUMS", "SHA256SUMS.sealed"]
        sums = {}
        for line in tf.extractfile("SHA256SUMS").read().decode().splitlines():
            digest, name = line.split("  ")
            sums[name] = digest
        for name in ("meta.json", "state.bin"):
            assert hashlib.sha256(tf.extractfile(name).read()).hexdigest() == sums[name]

        # 8. leader loss: delete the leader pod, another pod reports is_self (docs/vault-cli.md §1).
        leader = next(x for x in servers if x["leader"])["address"].split(".")[0]
        r = k("delete", "pod", leader, "-n", NS)
        assert r.returncode == 0, r.stderr
        others = [p for p in PODS if p != leader]
        new = wait_for(lambda: [p for p in others if status(k, p).get("is_self")], what="a new leader")
        assert len(new) == 1
        st = status(k, others[0] if others[0] != new[0] else others[1])
        assert st["leader_cluster_address"] == "https://%s.vault-internal:8201" % new[0]
        st = wait_for(lambda: (lambda s: s if s["sealed"] else None)(status(k, leader)), what="restarted pod")
        assert st["initialized"] is True and st["sealed"] is True
