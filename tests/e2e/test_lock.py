"""One destructive run at a time (issue 18 item 5): upgrade and recover hold a
coordination.k8s.io Lease (<sts>-vault-ha-lock) while they run; a second run names the holder
and stops at once; a stale lock is taken over only with --force-unlock, a live one never; the
lock goes away on Ctrl-C too. Pods are evicted, so the PodDisruptionBudget applies. And the
planned standby that a leader change made active during the quorum guard's wait is stepped
down before it is evicted (item 4)."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

from conftest import BIN, run_plugin
from test_upgrade import QUICK, changes, leaders, start, upgrade, upgrade_in_background

LEASE = "vault-vault-ha-lock"


def lease_of(fake):
    r = fake.kubectl("get", "lease", "-n", "vault", "-o", "json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)["items"]
    return items[0] if items else None


def microtime(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t))


def create_lease(fake, holder, renewed_ago, duration):
    """A lock held by someone else, written with the real kubectl."""
    t = microtime(time.time() - renewed_ago)
    doc = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": LEASE, "namespace": "vault"},
           "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                    "acquireTime": t, "renewTime": t}}
    r = fake.kubectl("create", "--validate=false", "-f", "-", input=json.dumps(doc))
    assert r.returncode == 0, r.stderr


def read_until(stream, text, deadline):
    """What a running plugin wrote on stream up to text (lines may stay open)."""
    got = b""
    while text.encode() not in got and time.time() < deadline:
        chunk = os.read(stream.fileno(), 4096)
        if not chunk:
            break
        got += chunk
    assert text.encode() in got, got.decode()
    return got


def vault_api(fake, pod, path, token, body=None, method="PUT"):
    req = urllib.request.Request("%s/_vault/vault/%s/v1/%s" % (fake.control_url, pod, path),
                                 method=method, headers={"X-Vault-Token": token},
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read()
        return json.loads(text) if text else {}


def test_two_upgrades_at_once_and_ctrl_c_releases(make_fake):
    fake, keys = start(make_fake)
    p = upgrade_in_background(fake, keys)  # the first run stays a while in its wait
    try:
        err = read_until(p.stderr, "waiting for vault-2 to run again", time.time() + 120)
        first = lease_of(fake)["spec"]
        holder = first["holderIdentity"]
        assert re.fullmatch(r"upgrade by \S+@\S+ pid %d" % p.pid, holder), holder
        # A second upgrade, and a recover: each names the holder and stops at once.
        t0 = time.time()
        r = upgrade(fake, keys, "--image", "hashicorp/vault:1.21.3", "--keys-file",
                    keys["_path"], "--yes")
        assert time.time() - t0 < 20
        assert r.returncode == 1 and r.stdout == "", r.stdout + r.stderr
        assert re.fullmatch(
            r'kubectl vault-ha: not starting upgrade of vault/vault: locked by another run: '
            r'"%s" holds the lock \(Lease vault/%s\) since \S+Z \(\d+ s ago\), last renewed '
            r'\d+ s ago; wait until it ends, then run again\n' % (re.escape(holder), LEASE),
            r.stderr), r.stderr
        r = run_plugin(["recover", "--yes", "--keys-file", keys["_path"]],
                       kubeconfig=fake.kubeconfig, env={"VAULT_TOKEN": keys["root_token"]})
        assert r.returncode == 1
        assert r.stderr.startswith('kubectl vault-ha: not starting recover of vault/vault: '
                                   'locked by another run: "%s" holds the lock' % holder), r.stderr
        # Only the first run evicted anything.
        assert [u for m, u in changes(fake) if m == "EVICT"] == [
            "/api/v1/namespaces/vault/pods/vault-2"]
        # The lock lives as long as the run: renewed every third of its 30 s (same holder,
        # same acquireTime, a later renewTime), so it never looks stale to --force-unlock.
        deadline = time.time() + 60
        spec = first
        while time.time() < deadline and spec["renewTime"] == first["renewTime"]:
            lease = lease_of(fake)
            assert lease is not None, "the upgrade ended before its lock was renewed"
            spec = lease["spec"]
            time.sleep(0.5)
        assert spec["holderIdentity"] == holder and spec["acquireTime"] == first["acquireTime"]
        assert spec["leaseDurationSeconds"] == 30 and spec["renewTime"] > first["renewTime"], spec
        # Ctrl-C: the first run stops in its wait and releases the lock on its way out.
        p.send_signal(signal.SIGINT)
        out, rest = p.communicate(timeout=120)
        assert p.returncode == 130, (err + rest).decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert lease_of(fake) is None
    # Free again: the next run takes the lock and finishes the roll.
    r = upgrade(fake, keys, "--keys-file", keys["_path"], "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert lease_of(fake) is None


def test_sigterm_releases_the_lock_and_an_ignored_sighup_stays_ignored(make_fake):
    """A run stopped by SIGTERM (a closed CI job, `kill`) releases the lock on its way out
    instead of leaving it to expire; under nohup, SIGHUP stays ignored and the run goes on."""
    fake, keys = start(make_fake)
    p = upgrade_in_background(
        fake, keys, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        err = read_until(p.stderr, "waiting for vault-2 to run again", time.time() + 120)
        assert lease_of(fake) is not None
        p.send_signal(signal.SIGHUP)
        # The roll goes on past that wait to the next pod: the SIGHUP neither ended the
        # process nor stopped the plan.
        err += read_until(p.stderr, "waiting for vault-1 to run again", time.time() + 120)
        assert b"interrupted" not in err, err.decode()
        p.send_signal(signal.SIGTERM)
        out, rest = p.communicate(timeout=120)
        err += rest
        assert p.returncode == 130, err.decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert (b"kubectl vault-ha: interrupted while waiting for vault-1 to run again on revision "
            in err), err.decode()
    assert lease_of(fake) is None


def test_sigterm_while_the_keys_are_read_from_stdin_releases_the_lock(make_fake):
    """`--keys-file -` read after the lock is taken: a SIGTERM there ends the read (it used to
    read on, and the lock outlived the run's purpose) and the lock goes."""
    fake, keys = start(make_fake)
    env = dict(os.environ, KUBECONFIG=fake.kubeconfig, VAULT_TOKEN=keys["root_token"],
               HOME="/nonexistent")
    p = subprocess.Popen([BIN, "upgrade", "--image", "hashicorp/vault:1.21.3", "--keys-file", "-",
                          "--yes"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        # The plan is printed under the lock, right before the keys are read.
        read_until(p.stdout, "1. restart vault-2", time.time() + 120)
        assert lease_of(fake) is not None
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)  # standard input stays open: only the signal can end the read
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err.decode()
    assert b"kubectl vault-ha: interrupted while reading standard input\n" in err, err.decode()
    assert lease_of(fake) is None


def test_live_lock_is_never_taken_and_stale_one_only_when_asked(make_fake):
    fake, keys = start(make_fake)
    bob = "upgrade by bob@elsewhere pid 7"
    create_lease(fake, bob, renewed_ago=5, duration=3600)
    for extra in ((), ("--force-unlock",)):
        r = upgrade(fake, keys, "--image", "hashicorp/vault:1.21.3", "--keys-file",
                    keys["_path"], "--yes", *extra)
        assert r.returncode == 1, r.stdout + r.stderr
        assert r.stderr.startswith('kubectl vault-ha: not starting upgrade of vault/vault: locked '
                                   'by another run: "%s" holds the lock (Lease vault/%s) since '
                                   % (bob, LEASE)), r.stderr
    assert r.stderr.endswith("; --force-unlock takes over only a lock that has not been renewed "
                             "for its 3600 s, and this one is alive\n"), r.stderr
    assert lease_of(fake)["spec"]["holderIdentity"] == bob
    assert changes(fake) == []
    # Its holder stopped renewing it 90 s ago (30 s lease): stale. (More time passes before
    # the plugin looks on a loaded machine: "2 min ago" past 119 s.)
    assert fake.kubectl("delete", "lease", LEASE, "-n", "vault").returncode == 0
    create_lease(fake, bob, renewed_ago=90, duration=30)
    r = upgrade(fake, keys, "--keys-file", keys["_path"], "--yes")
    assert r.returncode == 1
    assert re.search(r"last renewed (9\d s|1[01]\d s|\d+ min) ago, past its 30 s: its run has probably "
                     r"ended without releasing it\. Make sure that run is gone, then add "
                     r"--force-unlock to take the lock over\n$", r.stderr), r.stderr
    assert lease_of(fake)["spec"]["holderIdentity"] == bob
    r = upgrade(fake, keys, "--keys-file", keys["_path"], "--yes", "--force-unlock")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.match(r'Took over the stale lock \(Lease vault/%s\) of "%s" as "upgrade by \S+@\S+ '
                    r'pid \d+"\.\n' % (LEASE, bob), r.stderr), r.stderr
    assert r.stdout.startswith("Every pod of vault/vault runs revision")
    assert lease_of(fake) is None  # released at the end


def test_rbac_on_leases_is_named(make_fake):
    fake, keys = start(make_fake)
    fake.control("rbac", {"user": "token-user", "rules": [
        {"verbs": ["get", "list"], "resources": ["*"]},
        {"verbs": ["get", "create"], "resources": ["pods/exec"]}]})
    r = run_plugin(["--context", "fake-token", "upgrade", "--keys-file", keys["_path"], "--yes"],
                   kubeconfig=fake.kubeconfig, env={"VAULT_TOKEN": keys["root_token"]})
    assert r.returncode == 1
    assert r.stderr.startswith(
        'kubectl vault-ha: not starting upgrade of vault/vault: taking the lock (Lease '
        'vault/%s): RBAC denies "create" on resource "leases.coordination.k8s.io" in namespace '
        '"vault": grant verb "create" on "leases" to this user' % LEASE), r.stderr


def test_pdb_refusal_is_said(make_fake):
    """A budget that allows no disruption: the eviction is refused (429), retried until
    --timeout, then the refusal is quoted; nothing was evicted."""
    fake, keys = start(make_fake)
    fake.control("patch", {"namespace": "vault", "kind": "PodDisruptionBudget", "name": "vault",
                           "patch": {"spec": {"maxUnavailable": 0}}})
    r = upgrade(fake, keys, "--timeout", "5s", "--image", "hashicorp/vault:1.21.3",
                "--keys-file", keys["_path"], "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert ("kubectl vault-ha: the PodDisruptionBudget does not let vault-2 go: the API server "
            "refused its eviction until the wait ended (Cannot evict pod as it would violate the pod's "
            "disruption budget. The disruption budget vault needs 3 healthy pods and has 3 "
            "currently). The upgrade keeps to the budget: see `kubectl get pdb -n vault`, then "
            "run `kubectl vault-ha upgrade` again\n") in r.stderr, r.stderr
    refused = [e for e in fake.audit_log() if e["uri"].endswith("/eviction")]
    assert refused and {e["status"] for e in refused} == {429}
    assert [m for m, _ in changes(fake)] == ["PATCH"]
    assert leaders(fake) == ["vault-0"]
    assert lease_of(fake) is None


def test_leader_change_during_the_guard_wait(make_fake):
    """The plan restarts vault-2 as a standby. While the quorum guard waits (vault-1 is
    sealed), a leader change makes vault-2 active. It is stepped down before its eviction:
    no pod is deleted while it is the active node."""
    fake, keys = start(make_fake)
    r = fake.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p",
                     '{"spec":{"template":{"spec":{"containers":[{"name":"vault",'
                     '"image":"hashicorp/vault:1.21.3"}]}}}}')
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, KUBECONFIG=fake.kubeconfig, VAULT_TOKEN=keys["root_token"],
               HOME="/nonexistent")
    p = subprocess.Popen([BIN, "upgrade", "--keys-file", "-", "--yes"], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         bufsize=0)
    token = keys["root_token"]
    try:
        # The plan is made (all healthy) and printed; the keys are read next.
        read_until(p.stdout, "Already upgraded: none\n", time.time() + 120)
        # vault-1 restarts and stays sealed: the guard before vault-2's deletion will wait.
        assert fake.kubectl("delete", "pod", "vault-1", "-n", "vault",
                            "--wait=false").returncode == 0
        p.stdin.write(("\n".join(keys["unseal_keys_hex"][:3]) + "\n").encode())
        p.stdin.close()
        p.stdin = None
        early = read_until(p.stderr, "waiting for the cluster to be able to lose vault-2",
                           time.time() + 120)
        # The leader steps down; vault-2 is the only voter that can take over.
        vault_api(fake, "vault-0", "sys/step-down", token)
        deadline = time.time() + 60
        while leaders(fake)[-1] != "vault-2" and time.time() < deadline:
            time.sleep(0.1)
        assert leaders(fake)[-1] == "vault-2"
        for k in keys["unseal_keys_hex"][:3]:
            vault_api(fake, "vault-1", "sys/unseal", token, {"key": k})
        out, rest = p.communicate(timeout=300)
        err = (early + rest).decode()
        assert p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # When vault-2 went (its eviction, or a delete), the active node was another pod.
    gone = [e for e in fake.audit_log() if e["status"] in (200, 201) and (
        (e["method"] == "POST" and e["uri"] == "/api/v1/namespaces/vault/pods/vault-2/eviction")
        or (e["method"] == "DELETE" and e["uri"] == "/api/v1/namespaces/vault/pods/vault-2"))]
    assert gone, fake.audit_log()
    history = fake.control("leaders", {"namespace": "vault"})["leaders"]
    active_then = [x["pod"] for x in history if x["ns"] < gone[0]["ns"]][-1]
    assert active_then != "vault-2", history
    assert "vault-2: became the active node during the wait (a leader change); stepped it " \
           "down before its restart" in err


def test_snapshot_restore_takes_the_lock_too(make_fake, tmp_path):
    """A restore replaces the cluster's data: it waits for no other destructive run, and one
    that holds the lock stops it before anything is sent."""
    fake, keys = start(make_fake)
    env = {"VAULT_TOKEN": keys["root_token"]}
    snap = tmp_path / "backup.snap"
    r = run_plugin(["snapshot", "save", str(snap)], kubeconfig=fake.kubeconfig, env=env)
    assert r.returncode == 0, r.stderr
    bob = "upgrade by bob@elsewhere pid 7"
    create_lease(fake, bob, renewed_ago=5, duration=3600)
    before = len(fake.exec_log())
    r = run_plugin(["snapshot", "restore", str(snap), "--yes"], kubeconfig=fake.kubeconfig, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert ('kubectl vault-ha: not starting snapshot restore of vault/vault: locked by another '
            'run: "%s" holds the lock (Lease vault/%s) since ' % (bob, LEASE)) in r.stderr, r.stderr
    assert not [e for e in fake.exec_log()[before:] if "restore" in " ".join(e["command"])]
    assert lease_of(fake)["spec"]["holderIdentity"] == bob
    # Once the lock is free, the same restore runs, and leaves no lock behind.
    assert fake.kubectl("delete", "lease", LEASE, "-n", "vault").returncode == 0
    r = run_plugin(["snapshot", "restore", str(snap), "--yes"], kubeconfig=fake.kubeconfig, env=env,
                   timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert lease_of(fake) is None
