"""Reading Vault through the API server's pods/proxy (issue 23): status, --watch and -A with no
exec at all (the fake's exec log), the fall back to exec for a user without pods/proxy (by
SelfSubjectAccessReview and by the first 403), sealed and not-running pods, TLS listeners, the
token never in a URL or a log, and status --all-contexts over healthy, degraded and unreachable
clusters behind one kubeconfig (docs/kubernetes.md §8)."""
import json
import os
import re
import signal
import subprocess
import time

from conftest import BIN, run_plugin
from harness import FakeCluster, Unreachable, merged_kubeconfig
from test_watch import HA, LineReader, plugin_env, root_token

# What status needs besides the proxy: the objects, and exec for the fall back.
READER_RULES = [{"verbs": ["get", "list"], "resources": ["statefulsets", "pods"],
                 "namespace": "vault"},
                {"verbs": ["get", "create"], "resources": ["pods/exec"], "namespace": "vault"}]
PROXY_RULE = {"verbs": ["get"], "resources": ["pods/proxy"], "namespace": "vault"}


def rows(stdout):
    """The pod table's rows: POD, PHASE, READY, INITIALIZED, SEALED, ROLE, RAFT (first cells)."""
    return [line.split()[:7] for line in stdout.splitlines() if re.match(r"vault-\d ", line)]


def watch_sees(fake, args, env, first, after_crash):
    """Runs status ARGS (a watch) until a line matches first, crashes vault-2's container,
    waits for a line matching after_crash, then Ctrl-C; returns the exit code."""
    proc = subprocess.Popen([BIN, "status", "--interval", "300ms"] + args, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reader = LineReader(proc)
        got = []
        assert reader.until(first, got), got
        fake.control("pod-state", {"namespace": "vault", "pod": "vault-2",
                                   "state": "CrashLoopBackOff"})
        assert reader.until(after_crash, got), got
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    return proc.returncode


def test_status_over_the_proxy_runs_nothing_in_the_pods(make_fake):
    fake = make_fake(*HA)
    token = root_token(fake)
    r = run_plugin(["status", "-v"], kubeconfig=fake.kubeconfig, env={"VAULT_TOKEN": token})
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout) == [
        ["vault-0", "Running", "true", "true", "false", "active", "leader"],
        ["vault-1", "Running", "true", "true", "false", "standby", "follower"],
        ["vault-2", "Running", "true", "true", "false", "standby", "follower"]]
    assert "Cluster: healthy (3 voters, 3 unsealed voters, quorum 2, failure tolerance 1, " \
           "active vault-0)" in r.stdout
    assert fake.exec_log() == []
    paths = sorted((p["pod"], p["path"]) for p in fake.proxy_log())
    assert paths == [("vault-0", "/v1/sys/leader"), ("vault-0", "/v1/sys/seal-status"),
                     ("vault-0", "/v1/sys/storage/raft/autopilot/state"),
                     ("vault-0", "/v1/sys/storage/raft/configuration"),
                     ("vault-1", "/v1/sys/leader"), ("vault-1", "/v1/sys/seal-status"),
                     ("vault-2", "/v1/sys/leader"), ("vault-2", "/v1/sys/seal-status")]
    # One SelfSubjectAccessReview decided it, once.
    reviews = [a for a in fake.audit_log() if "selfsubjectaccessreviews" in a["uri"]]
    assert len(reviews) == 1
    assert "trace: pods/proxy in namespace vault: allowed, reads go through the API server" \
        in r.stderr
    # The token: only in the X-Vault-Token header, never in a URL, the trace or the output.
    assert token not in r.stdout + r.stderr
    assert all(token not in a["uri"] for a in fake.audit_log())
    raft = [line for line in r.stderr.splitlines() if "/sys/storage/raft/" in line]
    assert len(raft) == 2 and all(line.endswith("X-Vault-Token redacted)") for line in raft)


def test_watch_and_all_namespaces_over_the_proxy(make_fake):
    fake = make_fake(*HA, "--second-vault", "team-b")
    r = run_plugin(["status", "-A"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [line.split() for line in r.stdout.splitlines()[1:]] == [
        ["vault", "vault", "vault", "1.21.2", "3/3", "3/3", "3/3", "vault-0", "healthy"],
        ["team-b", "vault", "vault", "1.21.2", "3/3", "3/3", "3/3", "vault-0", "healthy"]]
    assert watch_sees(fake, ["-w"], plugin_env(fake), r"cluster healthy$",
                      r"vault-2 not running \(CrashLoopBackOff\)$") == 0
    assert fake.exec_log() == []
    assert len(fake.proxy_log()) > 12


def test_fall_back_to_exec_without_pods_proxy(make_fake):
    fake = make_fake(*HA)
    fake.control("rbac", {"user": "limited", "rules": READER_RULES})
    r = run_plugin(["status", "-v", "--context", "fake-limited"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    assert "trace: pods/proxy in namespace vault: not allowed (RBAC), reads run the CLI in " \
           "the pods (exec)" in r.stderr
    assert sorted(e["pod"] for e in fake.exec_log()) == ["vault-0", "vault-1", "vault-2"]
    assert fake.proxy_log() == []
    # With the grant the same user reads through the proxy.
    fake.control("rbac", {"user": "limited", "rules": READER_RULES + [PROXY_RULE]})
    before = len(fake.exec_log())
    r = run_plugin(["status", "--context", "fake-limited"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0 and len(fake.exec_log()) == before
    # No answer to the review: the first 403 decides, once; the reading goes on by exec.
    fake.control("rbac", {"user": "limited", "rules": READER_RULES})
    fake.control("fail", {"path": "/apis/authorization.k8s.io", "status": 500, "count": 1})
    r = run_plugin(["status", "-v", "--context", "fake-limited"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    assert "trace: pods/proxy in namespace vault refused (403): reads run the CLI in the " \
           "pods" in r.stderr
    assert len(fake.exec_log()) == before + 3
    # --read-via proxy insists, and says why each pod could not be read.
    r = run_plugin(["status", "--read-via", "proxy", "--context", "fake-limited", "-o", "json"],
                   kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    pod = json.loads(r.stdout)["pods"][0]
    assert pod["vault"]["error"] == (
        'vault-0: RBAC denies "get" on resource "pods/proxy" in namespace "vault": grant verb '
        '"get" on "pods/proxy" to this user (API server: pods "vault-0:8200" is forbidden: User '
        '"limited" cannot get resource "pods/proxy" in API group "" in the namespace "vault")')
    r = run_plugin(["status", "--read-via", "exec"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0 and len(fake.exec_log()) == before + 6
    r = run_plugin(["status", "--read-via", "ssh"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 64
    assert r.stderr.startswith("kubectl vault-ha: --read-via takes auto, proxy or exec, "
                               "not \"ssh\"\n")


def test_sealed_and_not_running_pods_over_the_proxy(make_fake):
    fake = make_fake(*HA, "--pod-state", "vault-2=Pending")
    d = fake.kubectl("delete", "pod", "vault-1", "-n", "vault", "--wait=false")
    assert d.returncode == 0, d.stderr
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    table = [" ".join(line.split()[:9]) for line in r.stdout.splitlines()
             if re.match(r"vault-\d ", line)]
    assert table[:2] == ["vault-0 Running true true false active leader 6/6 1.21.2",
                         "vault-1 Running false true true 0/3 sealed - -"]
    assert table[2].startswith("vault-2 Pending (Unschedulable) false")
    assert "  - vault-2 is not running: Pending (Unschedulable: 0/3 nodes are available" in r.stdout
    assert " false - - down - - - " in " ".join(r.stdout.splitlines()[5].split()) + " "
    assert "Cluster: unavailable (3 voters, 1 unsealed voter, quorum 2, failure tolerance 0, " \
           "active vault-0)" in r.stdout
    assert r.returncode == 3, r.stdout
    assert fake.exec_log() == []
    assert {p["pod"] for p in fake.proxy_log()} == {"vault-0", "vault-1"}  # not the Pending pod


def test_tls_listeners_are_read_with_the_https_scheme(make_fake):
    fake = make_fake(*HA, "--tls")
    r = run_plugin(["status", "-v"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "/pods/https:vault-0:8200/proxy/v1/sys/seal-status 200" in r.stderr
    assert fake.exec_log() == []


def test_all_contexts_healthy_degraded_unreachable(make_fake, tmp_path):
    healthy = make_fake(*HA, name="healthy")
    degraded = make_fake(*HA, "--namespace", "vault-b", "--pod-state", "vault-2=Pending",
                         name="degraded")
    with Unreachable() as dead:
        kc = merged_kubeconfig(tmp_path / "kubeconfig", [("prod", healthy),
                                                         ("stage", degraded), ("dr", dead)])
        t = time.monotonic()
        r = run_plugin(["status", "--all-contexts", "--request-timeout", "3s"], kubeconfig=kc)
        took = time.monotonic() - t
        assert r.returncode == 3, r.stdout + r.stderr
        assert took < 3 + 5, took  # the dead one does not hold the others up past the deadline
        lines = r.stdout.splitlines()
        assert lines[0].split() == ["CONTEXT", "NAMESPACE", "STATEFULSET", "READY", "SEALED",
                                    "ACTIVE", "VERSION", "SEAL", "VERDICT", "PROBLEM"]
        assert lines[1].split()[:9] == ["dr", "-", "-", "-", "-", "-", "-", "-", "unreachable"]
        assert "no answer from the API server at %s within 3000 ms" % dead.url in lines[1]
        assert lines[2].split() == ["prod", "vault", "vault", "3/3", "0/3", "vault-0", "1.21.2",
                                    "shamir", "healthy"]
        assert lines[3].split()[:9] == ["stage", "vault-b", "vault", "2/3", "0/3", "vault-0",
                                        "1.21.2", "shamir", "degraded"]
        r = run_plugin(["status", "--contexts", "prod,stage", "-o", "json"], kubeconfig=kc)
        assert r.returncode == 2, r.stderr
        doc = json.loads(r.stdout)
        # One entry per context: its verdict (status's words) and its Vaults.
        assert [(d["context"], d["verdict"], d["exitCode"]) for d in doc] == \
            [("prod", "healthy", 0), ("stage", "degraded", 2)]
        assert [sorted(d) for d in doc] == [["context", "exitCode", "vaults", "verdict"]] * 2
        assert doc[1]["vaults"] == [{
            "namespace": "vault-b", "statefulset": "vault", "release": "vault", "ready": "2/3",
            "sealed": "0/3", "active": "vault-0", "version": "1.21.2", "sealType": "shamir",
            "verdict": "degraded", "exitCode": 2, "problem": doc[1]["vaults"][0]["problem"]}]
        assert doc[1]["vaults"][0]["problem"].startswith("vault-2 is not running: Pending")
        # -n: that namespace in each context (prod has no Vault there).
        r = run_plugin(["status", "--contexts", "prod,stage", "-n", "vault-b"], kubeconfig=kc)
        assert [line.split()[:3] for line in r.stdout.splitlines()[1:]] == [
            ["prod", "-", "-"], ["stage", "vault-b", "vault"]], r.stdout
        r = run_plugin(["status", "--contexts", "dr", "-o", "yaml", "--request-timeout", "1s"],
                       kubeconfig=kc)
        assert r.returncode == 3
        # Its error, and no verdict: "unreachable" is no word of status's.
        assert r.stdout.startswith("- context: dr\n  error: ")
        assert r.stdout.endswith("\n  exitCode: 3\n") and "verdict" not in r.stdout, r.stdout
    assert healthy.exec_log() == [] and degraded.exec_log() == []


def test_all_contexts_watch(make_fake, tmp_path):
    fake = make_fake(*HA)
    kc = merged_kubeconfig(tmp_path / "kubeconfig", [("prod", fake)])
    assert watch_sees(fake, ["--all-contexts", "-w"], dict(plugin_env(fake), KUBECONFIG=kc),
                      r"^\d\d:\d\d:\d\d prod vault/vault healthy$",
                      r"^\d\d:\d\d:\d\d prod vault/vault degraded$") == 0
    assert fake.exec_log() == []


def test_hostile_answers_through_the_proxy(make_fake):
    """A pod's HTTP answer is hostile input as its exec output is: escape sequences never
    reach the terminal, and an answer without end is cut at 4 MiB with bounded memory."""
    from test_hostile import RSS_LIMIT_KIB, assert_sane, run_measured
    fake = make_fake(*HA)
    fake.control("settings", {"hostile": "proxy-escape", "hostile_match": "sys/seal-status"})
    rc, out, err, _ = run_measured(fake, ["status"])
    assert rc == 0, err
    assert_sane(out + err)
    # The version cell is bounded (24 characters, cut with "..."): the escape stays visible.
    assert re.search(r"vault-0 +Running .* 1\.21\.2\\x1b\]52;c;aGFja\.\.\. ", out), out
    fake.control("settings", {"hostile": "proxy-endless", "hostile_match": "sys/leader"})
    rc, out, err, peak = run_measured(fake, ["status"])
    assert rc == 1, err  # no pod could be read
    assert peak < RSS_LIMIT_KIB, peak
    for pod in ("vault-0", "vault-1", "vault-2"):
        assert ("  - %s: cannot read its vault status: %s: GET /api/v1/namespaces/vault/pods/"
                "%s:8200/proxy/v1/sys/leader: answer larger than 4194304 bytes" % (pod, pod, pod)
                ) in out, out
    assert fake.exec_log() == []


def timed_status(args, kubeconfig):
    t = time.monotonic()
    r = run_plugin(["status"] + args, kubeconfig=kubeconfig)
    return r, time.monotonic() - t


def test_all_contexts_one_deadline_for_slow_and_hanging_contexts(make_fake):
    """Only the one deadline keeps these under it: each request of the slow cluster answers
    within its own timeout, and an exec that does not end is no request at all."""
    fake = make_fake(*HA)
    fake.control("rbac", {"user": "limited", "rules": READER_RULES})  # no pods/proxy: exec
    fake.control("settings", {"exec_start_ms": 30000})  # `vault status` hangs in every pod
    r, took = timed_status(["--contexts", "fake,fake-limited", "--request-timeout", "2s"],
                           fake.kubeconfig)
    assert took < 2 + 13, took  # 30 s when an exec's own timeout (120 s) decides
    assert r.returncode == 3, r.stdout + r.stderr
    lines = [line.split() for line in r.stdout.splitlines()[1:]]
    assert lines[0] == ["fake", "vault", "vault", "3/3", "0/3", "vault-0", "1.21.2", "shamir",
                        "healthy"]
    assert lines[1][:9] == ["fake-limited", "vault", "vault", "3/3", "0/3", "-", "1.21.2", "-",
                            "unreachable"], r.stdout
    assert "vault-0: cannot read its vault status: exec in vault-0: the command did not " \
        "finish within " in r.stdout
    assert sorted(e["pod"] for e in fake.exec_log()) == ["vault-0", "vault-1", "vault-2"]

    # Every request answers in 2.7 s, within --request-timeout 3s: those made in turn
    # (StatefulSets, pods, the review, the reads) take 10 s and more without the deadline.
    slow = make_fake(*HA, name="slow")
    slow.control("settings", {"latency_ms": 2700})
    r, took = timed_status(["--contexts", "fake", "--request-timeout", "3s", "-o", "json"],
                           slow.kubeconfig)
    assert took < 3 + 5, took
    assert r.returncode == 3, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert len(doc) == 1 and {"context", "error", "exitCode"} <= set(doc[0]), doc
    assert "verdict" not in doc[0] and doc[0]["context"] == "fake" and doc[0]["exitCode"] == 3
    # (which request the deadline cut depends on the machine's load)
    assert "no answer from the API server at " in doc[0]["error"], doc
