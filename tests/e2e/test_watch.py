"""Watching the cluster (issue 11): `status --watch` in line mode (one timestamped line per
change, as `kubectl get -w`) and on a terminal (redrawn in place, changes marked; tmux),
`status --wait-for` and its exit codes, and `status -A` over several Vaults."""
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time

from conftest import BIN, run_plugin, write_private
from test_interactive import Tmux, command_line

HA = ("--vault-opt", "preset=ha", "--vault-opt", "election_seconds=1-3",
      "--vault-opt", "stabilization_seconds=1")
STAMP = r"\d\d:\d\d:\d\d"


def root_token(fake, ns="vault", rel="vault"):
    with open(os.path.join(fake.state_dir, "vault", ns, rel, "vault-init.json")) as f:
        return json.load(f)["root_token"]


def plugin_env(fake, token=None):
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR",
                                                            "VAULT_TOKEN")}
    env.update({"HOME": "/nonexistent", "KUBECONFIG": fake.kubeconfig})
    if token:
        env["VAULT_TOKEN"] = token
    return env


def active_pod(fake):
    r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig)
    return json.loads(r.stdout)["verdict"]["active"]


class LineReader:
    """proc's stdout lines, read by a thread, so that waiting for one has a deadline."""

    def __init__(self, proc):
        self.q = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(proc,), daemon=True)
        self.thread.start()

    def _run(self, proc):
        for line in proc.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def until(self, pattern, lines, timeout=90):
        """Appends lines until one matches pattern; False at the deadline or the end."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while True:
            try:
                line = self.q.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                return False
            if line is None:
                return False
            lines.append(line)
            if rx.search(line):
                return True


def test_watch_lines_show_a_leader_change(make_fake):
    fake = make_fake(*HA)
    token = root_token(fake)
    leader = active_pod(fake)
    assert leader is not None
    proc = subprocess.Popen([BIN, "status", "--watch", "--interval", "500ms"],
                            env=plugin_env(fake, token), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    reader = LineReader(proc)
    try:
        assert reader.until(r" cluster healthy$", lines), lines
        # The first reading: every pod's state and raft role, then the verdict.
        first = [re.sub(STAMP, "T", l) for l in lines]
        assert first[-1] == "T cluster healthy"
        assert "T %s active" % leader in first
        for pod in ("vault-0", "vault-1", "vault-2"):
            assert "T %s voter" % pod in first
        assert fake.kubectl("delete", "pod", leader, "-n", "vault").returncode == 0
        assert reader.until(r"^%s vault-\d active \(was %s\)$" % (STAMP, leader), lines), lines
        # The verdict's line ends a reading: when one reading saw both the new leader and the
        # sealed pod (a busy machine), it comes after the leader's line.
        verdict = r"^%s cluster (unavailable|degraded) \(was healthy\)$" % STAMP
        assert any(re.search(verdict, l) for l in lines[len(first):]) or \
            reader.until(verdict, lines), lines
        later = lines[len(first):]
        assert any(re.fullmatch(r"%s %s (sealed 0/3|not running \(.*\))" % (STAMP, leader), l)
                   for l in later), later
        # Raft roles are not repeated when the election hid them for a reading.
        assert sum(1 for l in later if l.endswith(" voter")) == 0, later
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert err == ""


def test_watch_redraws_on_a_terminal(make_fake, tmp_path):
    fake = make_fake(*HA)
    leader = active_pod(fake)
    # The shell traps SIGINT so that it survives the Ctrl-C sent to the foreground group.
    t = Tmux(tmp_path, "trap : INT; " + command_line(fake, ["status", "-w", "--interval", "1s"]) +
             "; echo EXIT=$?; sleep 60")
    try:
        screen = t.wait_for("Every 1s: kubectl vault-ha status")
        assert "Cluster: healthy" in screen
        assert fake.kubectl("delete", "pod", leader, "-n", "vault").returncode == 0
        screen = t.wait_for("active (was %s)" % leader, timeout=90)
        assert re.search(r"Changed at %s:" % STAMP, screen), screen
        assert re.search(r"\* vault-\d active \(was %s\)" % leader, screen), screen
        # Redrawn in place: one header on the screen, not one per reading.
        visible = t.visible()
        assert visible.count("Every 1s: kubectl vault-ha status") == 1, visible
        t.send("C-c")
        screen = t.wait_for("EXIT=")
        assert "EXIT=0" in screen, screen
    finally:
        t.close()


def test_wait_for_exit_codes(make_fake, tmp_path):
    fake = make_fake(*HA)
    kc = fake.kubeconfig
    r = run_plugin(["status", "--wait-for", "healthy"], kubeconfig=kc)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # nothing to wait for: no progress line
    assert "Cluster: healthy" in r.stdout
    leader = active_pod(fake)
    assert fake.kubectl("delete", "pod", leader, "-n", "vault").returncode == 0
    # An active node comes back by itself (an election), healthy does not (a sealed pod).
    r = run_plugin(["status", "--wait-for", "active", "--timeout", "90s"], kubeconfig=kc,
                   timeout=120)
    assert r.returncode == 0, r.stderr
    r = run_plugin(["status", "--wait-for", "healthy", "--timeout", "2s", "-o", "json"],
                   kubeconfig=kc)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("waiting for the cluster to be healthy... timed out\n")
    assert "kubectl vault-ha: gave up after 2s waiting for the cluster to be healthy: cluster " \
           "degraded: " in r.stderr
    assert json.loads(r.stdout)["verdict"]["state"] == "degraded"
    r = run_plugin(["status", "--wait-for", "unsealed", "--timeout", "2s"], kubeconfig=kc)
    assert r.returncode == 2, r.stderr
    with open(os.path.join(fake.state_dir, "vault", "vault", "vault", "vault-init.json")) as f:
        keys = write_private(tmp_path / "keys.json", f.read())
    r = run_plugin(["unseal", "--keys-file", keys], kubeconfig=kc)
    assert r.returncode == 0, r.stderr
    r = run_plugin(["status", "--wait-for", "unsealed", "--timeout", "90s"], kubeconfig=kc,
                   timeout=120)
    assert r.returncode == 0, r.stderr
    r = run_plugin(["status", "--wait-for", "sunny"], kubeconfig=kc)
    assert r.returncode == 64
    assert "--wait-for takes healthy, unsealed or active, not \"sunny\"" in r.stderr
    # pods/proxy is allowed: every reading, the waits' and unseal's progress read before its
    # first key included, went through it; only the unseal keys ran in the pods.
    assert [e["command"] for e in fake.exec_log() if "status" in e["command"]] == []
    assert {" ".join(e["command"]) for e in fake.exec_log()} == {"vault write -format=json sys/unseal -"}


def test_all_namespaces(make_fake):
    fake = make_fake(*HA, "--second-vault", "team-a", "--second-vault", "team-b:secrets")
    kc = fake.kubeconfig
    # team-a's Vault loses a pod's unseal: degraded.
    assert fake.kubectl("delete", "pod", "vault-2", "-n", "team-a").returncode == 0
    deadline = time.time() + 60
    while True:
        r = run_plugin(["status", "-A", "-o", "json"], kubeconfig=kc)
        doc = json.loads(r.stdout)
        by_ns = {d["namespace"]: d for d in doc}
        if by_ns.get("team-a", {}).get("unsealed") == "2/3" or time.time() > deadline:
            break
        time.sleep(0.5)
    assert r.returncode == 2, r.stderr
    assert sorted(by_ns) == ["team-a", "team-b", "vault"]
    assert by_ns["vault"]["verdict"] == "healthy" and by_ns["team-b"]["verdict"] == "healthy"
    assert by_ns["team-b"]["release"] == "secrets"
    assert by_ns["team-b"]["statefulset"] == "secrets-vault"
    assert by_ns["team-a"]["verdict"] == "degraded"
    assert by_ns["team-a"]["unsealed"] == "2/3"
    assert by_ns["team-a"]["voters"] == "2/3"
    r = run_plugin(["status", "-A"], kubeconfig=kc)
    assert r.returncode == 2
    lines = r.stdout.splitlines()
    assert re.split(r"\s{3,}", lines[0]) == ["NAMESPACE", "RELEASE", "STATEFULSET", "VERSION",
                                             "READY", "UNSEALED", "VOTERS", "ACTIVE", "VERDICT"]
    rows = {re.split(r"\s{3,}", l)[0]: re.split(r"\s{3,}", l) for l in lines[1:]}
    assert rows["team-a"][4:6] == ["2/3", "2/3"] and rows["team-a"][8] == "degraded"
    assert rows["vault"][1:4] == ["vault", "vault", "1.21.2"]
    assert rows["vault"][8] == "healthy"
