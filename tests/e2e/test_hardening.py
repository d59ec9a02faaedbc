"""Issue 12 (hardening) through the plugin: secret hygiene and hostile input
from pods and the API server, each against the fake (tests/fake)."""
import os
import shutil
import subprocess

import pytest

from conftest import BIN, run_plugin


def no_memlock_prefix():
    """A command prefix under which mlock fails: RLIMIT_MEMLOCK 0, and (for root) no
    CAP_IPC_LOCK, which would override the limit."""
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is needed")
    prefix = ["prlimit", "--memlock=0:0", "--"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv (util-linux) is needed as root")
        prefix = ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock"] + prefix
    return prefix


def test_mlock_failure_warned_once(fake):
    """A token is a secret in locked memory; when locking fails the user hears it once,
    with how to raise the limit, and the command goes on."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update({"HOME": "/nonexistent", "KUBECONFIG": fake.kubeconfig,
                "VAULT_TOKEN": "hvs.some-token"})
    r = subprocess.run(no_memlock_prefix() + [BIN, "status"], env=env, capture_output=True,
                       text=True, timeout=60)
    lines = [l for l in r.stderr.splitlines() if "cannot lock the secrets' memory" in l]
    assert len(lines) == 1, r.stderr
    assert lines[0] == (
        "kubectl vault-ha: warning: cannot lock the secrets' memory (mlock: Operation not "
        "permitted): the keys could reach swap; raise the locked-memory limit (RLIMIT_MEMLOCK, "
        "now 0 KiB): `ulimit -l 1024` in the shell, memlock in /etc/security/limits.conf, or "
        "LimitMEMLOCK= in a systemd unit"), r.stderr
    # It went on to the status screen.
    assert "Cluster: " in r.stdout, r.stdout


def test_vault_token_with_newline_refused(fake):
    """A newline in VAULT_TOKEN would end the line `sh` reads in the pod and hand the rest
    to the CLI as its stdin: refused before anything runs."""
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig,
                   env={"VAULT_TOKEN": "hvs.abc\nvault token revoke -self"})
    assert r.returncode == 1, r.stderr
    assert r.stderr == ("kubectl vault-ha: VAULT_TOKEN: the token holds a control character "
                        "(0x0a at byte 8); a token is one line of printable text\n")
    assert r.stdout == ""
    # Only `vault status` ran (no token needed for it); nothing read the token's lines.
    assert all(e["command"] == ["vault", "status", "-format=json"] for e in fake.exec_log())
