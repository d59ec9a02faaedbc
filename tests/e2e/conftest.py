"""End-to-end tests: the built plugin ($VH_BIN) against tests/fake."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fake"))

from harness import FakeCluster  # noqa: E402

BIN = os.environ.get("VH_BIN", os.path.join(ROOT, "kubectl-vault_ha"))

# The plain build, for the few tests that measure what a sanitizer changes (mlock, peak RSS):
# `make check` runs the suite once, with VH_BIN the ASan/UBSan build and this one plain.
RELEASE_BIN = os.environ.get("VH_RELEASE_BIN", BIN)


def sanitized(binary):
    """Whether binary is an ASan build: ASan makes mlock a no-op and grows RSS."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    return "libasan" in r.stdout

# How much slower than a plain build the plugin runs (valgrind: `make valgrind` sets 10), so
# that deadlines scale with it.
SLOWDOWN = float(os.environ.get("VH_SLOWDOWN", "1"))


def run_plugin(args, kubeconfig=None, env=None, input=None, timeout=60):
    """Runs the plugin with a clean environment; returns CompletedProcess (text)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    full_env["HOME"] = "/nonexistent"
    if kubeconfig is not None:
        full_env["KUBECONFIG"] = str(kubeconfig)
    if env:
        full_env.update(env)
    return subprocess.run([BIN] + list(args), env=full_env, input=input, capture_output=True,
                          text=True, timeout=timeout * SLOWDOWN)


@pytest.fixture
def fake(tmp_path):
    with FakeCluster(tmp_path / "fake") as f:
        yield f


@pytest.fixture
def make_fake(tmp_path):
    """Starts fake clusters with extra fakecluster options; all are stopped at the end."""
    started = []

    def start(*args, name="fake"):
        f = FakeCluster(tmp_path / name, *args)
        f.__enter__()
        started.append(f)
        return f

    yield start
    for f in started:
        f.__exit__(None, None, None)


def bootstrapped(fake, tmp_path, *extra):
    """Runs bootstrap and returns the keys file's JSON (keys and root token)."""
    import json
    keys = tmp_path / "vault-keys.json"
    r = run_plugin(["bootstrap", "--output", str(keys)] + list(extra), kubeconfig=fake.kubeconfig,
                   timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(keys.read_text())
    data["_path"] = str(keys)
    return data


def write_private(path, text):
    import os
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)
