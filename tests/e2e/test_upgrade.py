"""upgrade (issue 14): a rolling Vault upgrade in the safe order against the fake, whose
StatefulSet behaves as a real one under OnDelete (tests/fake/test_fake_updates.py): pods keep
their image until deleted, restarted pods come back sealed on the new revision after a while
and catch up with the leader's raft index. Standbys first, the active node last after one
step-down; preconditions before any change; resumable; OpenBao and auto-unseal too."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BIN, run_plugin
from test_interactive import Tmux, command_line

# Short elections, restarts and catch-up where the test is not about timing.
QUICK = ("--vault-opt", "preset=ha", "--vault-opt", "election_seconds=0.3-0.8",
         "--vault-opt", "stepdown_sleep_seconds=2", "--restart-seconds", "1",
         "--vault-opt", "catchup_seconds=2")


def start(make_fake, *extra, name="fake", ready="healthy"):
    fake = make_fake(*(QUICK + extra), name=name)
    flavor = "openbao" if "--openbao" in extra else "vault"
    keys = os.path.join(fake.state_dir, "vault", "vault", flavor, "vault-init.json")
    if not os.path.exists(keys):  # the fullname is the release's when it contains the chart
        keys = os.path.join(fake.state_dir, "vault", "vault", "vault", "vault-init.json")
    os.chmod(keys, 0o600)
    data = json.load(open(keys))
    data["_path"] = keys
    # OpenBao's StatefulSet (OrderedReady) creates its pods one by one.
    r = run_plugin(["status", "--wait-for", ready, "--timeout", "60s"],
                   kubeconfig=fake.kubeconfig, env={"VAULT_TOKEN": data["root_token"]})
    assert r.returncode == 0, r.stdout + r.stderr
    return fake, data


def upgrade(fake, keys, *args, env=None, timeout=300):
    e = {"VAULT_TOKEN": keys["root_token"]}
    e.update(env or {})
    return run_plugin(["upgrade"] + list(args), kubeconfig=fake.kubeconfig, env=e,
                      timeout=timeout)


def upgrade_in_background(fake, keys, **popen):
    """An upgrade to 1.21.3 with the keys file, running on: the caller reads its stderr and
    signals it. Pods restart in 8 s, so that its waits last long enough to land in."""
    fake.control("settings", {"restart_seconds": 8})
    env = dict(os.environ, KUBECONFIG=fake.kubeconfig, VAULT_TOKEN=keys["root_token"],
               HOME="/nonexistent")
    return subprocess.Popen([BIN, "upgrade", "--image", "hashicorp/vault:1.21.3", "--keys-file",
                             keys["_path"], "--yes"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, bufsize=0, **popen)


def leaders(fake, ns="vault"):
    return [x["pod"] for x in fake.control("leaders", {"namespace": ns})["leaders"]]


def changes(fake):
    """The requests that change the cluster, in order: PATCH, DELETE of a pod, and evictions
    (POST pods/NAME/eviction, granted) as ("EVICT", the pod's path); the lock's Lease is not
    one."""
    out = []
    for e in fake.audit_log():
        if e["method"] == "POST" and e["uri"].endswith("/eviction") and e["status"] == 201:
            out.append(("EVICT", e["uri"][:-len("/eviction")]))
        elif e["method"] in ("PATCH", "DELETE") and "/leases/" not in e["uri"]:
            out.append((e["method"], e["uri"]))
    return out


def milestones(stderr):
    """The lines that say what the upgrade did, times removed."""
    keep = re.compile(r"^(\[\d+/\d+\] |statefulset |.*: deleted |.*: upgraded to |.*: stepped "
                      r"down$|.* is active \(was |.*: on revision .* already|kubectl vault-ha: )")
    return [re.sub(r"\d+\.\d s", "N s", l) for l in stderr.splitlines() if keep.match(l)]


def status_json(fake, keys):
    r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig,
                   env={"VAULT_TOKEN": keys["root_token"]})
    return r.returncode, json.loads(r.stdout)


def assert_no_secret_in_argv(fake, keys):
    secrets = keys["unseal_keys_b64"] + keys["unseal_keys_hex"] + [keys["root_token"]]
    for e in fake.exec_log():
        for s in secrets:
            assert s not in json.dumps(e), e
    for e in fake.audit_log():
        for s in secrets:
            assert s not in e["uri"]


def revision_of(fake):
    sts = json.loads(fake.kubectl("get", "sts", "-n", "vault", "-o", "json").stdout)["items"][0]
    return sts["status"]["updateRevision"]


PLAN_STEPS = """\
  1. restart vault-2 (standby, revision vault-5d8c7b9f6, version 1.21.2)
       before: vault-2 is not the active node; every other pod is a healthy voter, caught up; \
without vault-2 the voters keep a quorum (failure tolerance >= 1)
       done:   vault-2 runs {rev}, unsealed, a healthy raft voter caught up with the leader
  2. restart vault-1 (standby, revision vault-5d8c7b9f6, version 1.21.2)
       before: vault-1 is not the active node; every other pod is a healthy voter, caught up; \
without vault-1 the voters keep a quorum (failure tolerance >= 1)
       done:   vault-1 runs {rev}, unsealed, a healthy raft voter caught up with the leader
  3. step down vault-0 (active, revision vault-5d8c7b9f6, version 1.21.2)
       before: vault-0 is the active node; an upgraded standby is a healthy voter
       done:   the active node runs {rev}
  4. restart vault-0 (active, revision vault-5d8c7b9f6, version 1.21.2)
       before: vault-0 is not the active node; every other pod is a healthy voter, caught up; \
without vault-0 the voters keep a quorum (failure tolerance >= 1)
       done:   vault-0 runs {rev}, unsealed, a healthy raft voter caught up with the leader
Leader changes: 1 (vault-0 steps down)
Already upgraded: none
"""


def test_dry_run_prints_the_plan_and_changes_nothing(make_fake):
    fake, keys = start(make_fake)
    r = upgrade(fake, keys, "--image", "hashicorp/vault:1.21.3", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "Upgrade plan for vault/vault: 1.21.2 -> 1.21.3 (hashicorp/vault:1.21.3, a new revision "
        "once the StatefulSet is patched)\n"
        "  0. patch statefulset vault/vault: image hashicorp/vault:1.21.2 -> "
        "hashicorp/vault:1.21.3 (container vault)\n" +
        PLAN_STEPS.format(rev="the new revision") + "Dry run: nothing was changed.\n")
    # Without a token (and no terminal to ask on), what needs one is said to be unchecked.
    r = run_plugin(["upgrade", "--image", "hashicorp/vault:1.21.3", "--dry-run", "-o", "json"],
                   kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [(s["action"], s["pod"]) for s in doc["steps"]] == [
        ("restart", "vault-2"), ("restart", "vault-1"), ("step down", "vault-0"),
        ("restart", "vault-0")]
    assert doc["leaderChanges"] == 1 and doc["ready"] is True and doc["revision"] is None
    assert doc["patchImage"] == "hashicorp/vault:1.21.3" and doc["from"] == "1.21.2"
    assert doc["steps"][2]["done"] == "the active node runs the new revision"
    # The usual path: helm upgrade changed the template; the plan names the revision.
    r = fake.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p",
                     '{"spec":{"template":{"spec":{"containers":[{"name":"vault",'
                     '"image":"hashicorp/vault:1.21.3"}]}}}}')
    assert r.returncode == 0, r.stderr
    r = upgrade(fake, keys, "--dry-run")
    assert r.returncode == 0, r.stderr
    rev = revision_of(fake)
    assert r.stdout == (
        "Upgrade plan for vault/vault: 1.21.2 -> 1.21.3 (hashicorp/vault:1.21.3, revision %s)\n"
        % rev + PLAN_STEPS.format(rev=rev) + "Dry run: nothing was changed.\n")
    assert [m for m, _ in changes(fake)] == ["PATCH"]  # kubectl's, none of ours
    assert leaders(fake) == ["vault-0"]


def test_three_pod_roll_with_keys_file_one_leader_change(make_fake):
    fake, keys = start(make_fake)
    r = upgrade(fake, keys, "--image", "hashicorp/vault:1.21.3", "--keys-file", keys["_path"],
                "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    rev = revision_of(fake)
    assert r.stdout.startswith(
        "Upgrade plan for vault/vault: 1.21.2 -> 1.21.3 (hashicorp/vault:1.21.3, a new revision "
        "once the StatefulSet is patched)\n"
        "  0. patch statefulset vault/vault: image hashicorp/vault:1.21.2 -> "
        "hashicorp/vault:1.21.3 (container vault)\n" +
        PLAN_STEPS.format(rev="the new revision") + "Upgrade complete")
    new_active = leaders(fake)[-1]
    assert r.stdout.endswith("Upgrade complete: every pod of vault/vault runs revision %s "
                             "(1.21.3). Active: %s (was vault-0).\n" % (rev, new_active))
    assert milestones(r.stderr) == [
        "statefulset vault/vault: image hashicorp/vault:1.21.2 -> hashicorp/vault:1.21.3 "
        "(container vault), revision %s" % rev,
        "[1/4] restart vault-2",
        "vault-2: deleted (revision vault-5d8c7b9f6, version 1.21.2)",
        "vault-2: upgraded to 1.21.3 (revision %s) in N s" % rev,
        "[2/4] restart vault-1",
        "vault-1: deleted (revision vault-5d8c7b9f6, version 1.21.2)",
        "vault-1: upgraded to 1.21.3 (revision %s) in N s" % rev,
        "[3/4] step down vault-0",
        "vault-0: stepped down",
        "%s is active (was vault-0), on revision %s, in N s" % (new_active, rev),
        "[4/4] restart vault-0",
        "vault-0: deleted (revision vault-5d8c7b9f6, version 1.21.2)",
        "vault-0: upgraded to 1.21.3 (revision %s) in N s" % rev,
    ]
    # Each restarted pod was waited for until it ran the new revision, then unsealed.
    for pod in ("vault-2", "vault-1", "vault-0"):
        assert "waiting for %s to run again on revision %s..." % (pod, rev) in r.stderr
        assert "%s: unsealed" % pod in r.stderr
    # Exactly one leader change, to an upgraded standby.
    assert leaders(fake) == ["vault-0", new_active] and new_active in ("vault-1", "vault-2")
    # One patch, then the deletions in the safe order.
    assert changes(fake) == [
        ("PATCH", "/apis/apps/v1/namespaces/vault/statefulsets/vault"),
        ("EVICT", "/api/v1/namespaces/vault/pods/vault-2"),
        ("EVICT", "/api/v1/namespaces/vault/pods/vault-1"),
        ("EVICT", "/api/v1/namespaces/vault/pods/vault-0")]
    rc, doc = status_json(fake, keys)
    assert rc == 0, doc["verdict"]
    assert {p["name"]: p["vault"]["version"] for p in doc["pods"]} == {
        "vault-0": "1.21.3", "vault-1": "1.21.3", "vault-2": "1.21.3"}
    assert_no_secret_in_argv(fake, keys)
    # Again: nothing left to do.
    r = upgrade(fake, keys)
    assert (r.returncode, r.stdout) == (0, "Every pod of vault/vault runs revision %s "
                                           "(hashicorp/vault:1.21.3): nothing to upgrade.\n" % rev)


def test_five_pod_roll_after_helm_upgrade(make_fake):
    fake, keys = start(make_fake, "--replicas", "5")
    fake.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p",
                 '{"spec":{"template":{"spec":{"containers":[{"name":"vault",'
                 '"image":"hashicorp/vault:1.22.0"}]}}}}')
    r = upgrade(fake, keys, "--keys-file", keys["_path"], "--yes", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    order = [l for l in milestones(r.stderr) if l.startswith("[")]
    assert order == ["[1/6] restart vault-4", "[2/6] restart vault-3", "[3/6] restart vault-2",
                     "[4/6] restart vault-1", "[5/6] step down vault-0", "[6/6] restart vault-0"]
    assert len(leaders(fake)) == 2
    assert [u for m, u in changes(fake) if m == "EVICT"] == [
        "/api/v1/namespaces/vault/pods/vault-%d" % i for i in (4, 3, 2, 1, 0)]
    rc, doc = status_json(fake, keys)
    assert rc == 0 and {p["vault"]["version"] for p in doc["pods"]} == {"1.22.0"}


def test_interrupted_roll_resumes(make_fake):
    """Ctrl-C while the second pod comes back: a clean stop, with the state and the command
    to continue. The next run skips the pod already upgraded, brings the half-done one back
    first, and finishes with one leader change in all."""
    fake, keys = start(make_fake)
    # Restarts of 8 s: the first look after vault-1's deletion must find it still down, even
    # on a busy machine (with 1 s, one found it running and nothing was waited for).
    p = upgrade_in_background(fake, keys)
    err = b""
    deadline = time.time() + 120
    # The wait for vault-1 to come back polls every second: Ctrl-C lands in it. (Its line
    # stays open until the wait ends: read what comes, not lines.)
    while b"waiting for vault-1 to run again" not in err and time.time() < deadline:
        chunk = os.read(p.stderr.fileno(), 4096)
        if not chunk:
            break
        err += chunk
    p.send_signal(signal.SIGINT)
    out, rest = p.communicate(timeout=120)
    err = (err + rest).decode()
    assert p.returncode == 130, err
    rev = revision_of(fake)
    assert "kubectl vault-ha: interrupted while waiting for vault-1 to run again on revision " \
           "%s" % rev in err
    assert re.search(r"kubectl vault-ha: the upgrade stopped at step 2 of 4 \(restart vault-1\)"
                     r"\. Now: vault-0: active; vault-1: [^;]+; vault-2: unsealed standby; "
                     r"`kubectl vault-ha upgrade` again continues where it stopped\n", err), err
    assert [u for m, u in changes(fake) if m == "EVICT"] == [
        "/api/v1/namespaces/vault/pods/vault-2", "/api/v1/namespaces/vault/pods/vault-1"]
    r = upgrade(fake, keys, "--keys-file", keys["_path"], "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "  1. bring back vault-1 (" in r.stdout
    assert "Already upgraded: vault-2\n" in r.stdout
    steps = [l for l in milestones(r.stderr) if l.startswith("[")]
    assert steps == ["[1/3] bring back vault-1", "[2/3] step down vault-0",
                     "[3/3] restart vault-0"]
    assert "vault-1: unsealed" in r.stderr
    assert len(leaders(fake)) == 2
    assert [u for m, u in changes(fake) if m == "EVICT"][2:] == [
        "/api/v1/namespaces/vault/pods/vault-0"]
    rc, doc = status_json(fake, keys)
    assert rc == 0 and {p["vault"]["version"] for p in doc["pods"]} == {"1.21.3"}


def test_refusals_change_nothing(make_fake, tmp_path):
    fake, keys = start(make_fake)
    # A downgrade, and a tag that is not a version.
    r = upgrade(fake, keys, "--image", "hashicorp/vault:1.20.0", "--yes")
    assert (r.returncode, r.stderr) == (1, (
        "kubectl vault-ha: refusing to downgrade to 1.20.0: vault-0 runs 1.21.2, newer than "
        "1.20.0; Vault does not promise to read data a newer version wrote. Add "
        "--allow-downgrade if you mean it\n"))
    r = upgrade(fake, keys, "--image", "hashicorp/vault:latest", "--yes")
    assert r.returncode == 1 and "cannot tell whether hashicorp/vault:latest is a downgrade" \
        in r.stderr
    # RollingUpdate: the controller would restart pods itself, sealed.
    fake.kubectl("patch", "statefulset", "vault", "-n", "vault", "--type", "merge", "-p",
                 '{"spec":{"updateStrategy":{"type":"RollingUpdate"}}}')
    r = upgrade(fake, keys, "--image", "hashicorp/vault:1.21.3", "--yes")
    assert r.returncode == 1
    assert r.stderr.startswith("kubectl vault-ha: refusing to upgrade vault/vault: its "
                               "updateStrategy is RollingUpdate, so the StatefulSet controller "
                               "restarts the pods itself on a template change, in reverse "
                               "ordinal order, without unsealing them")
    assert "kubectl -n vault patch statefulset vault -p '{\"spec\":{\"updateStrategy\":" \
           "{\"type\":\"OnDelete\",\"rollingUpdate\":null}}}'" in r.stderr
    assert [m for m, _ in changes(fake)] == ["PATCH"]  # kubectl's own
    # Without a token and without a terminal to ask on.
    fake.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p",
                 '{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}')
    r = run_plugin(["upgrade", "--image", "hashicorp/vault:1.21.3", "--yes"],
                   kubeconfig=fake.kubeconfig)
    assert r.returncode == 1 and "a Vault token is needed" in r.stderr
    # RBAC without patch on statefulsets: named before anything is deleted.
    fake.control("rbac", {"user": "token-user", "rules": [
        {"verbs": ["get", "list"], "resources": ["*"]},
        {"verbs": ["get", "create"], "resources": ["pods/exec"]},
        {"verbs": ["get", "create", "update", "delete"], "resources": ["leases"]}]})
    r = run_plugin(["--context", "fake-token", "upgrade", "--image", "hashicorp/vault:1.21.3",
                    "--keys-file", keys["_path"], "--yes"], kubeconfig=fake.kubeconfig,
                   env={"VAULT_TOKEN": keys["root_token"]})
    assert r.returncode == 1
    assert ('RBAC denies "patch" on resource "statefulsets.apps" in namespace "vault": grant '
            'verb "patch" on "statefulsets" to this user') in r.stderr
    assert [m for m, _ in changes(fake)] == ["PATCH", "PATCH", "PATCH"]
    assert leaders(fake) == ["vault-0"]


def test_refusal_on_a_degraded_cluster(make_fake):
    """A dead raft voter (its pod is gone): the cluster is degraded and the failure
    tolerance is 0; nothing is touched and the next command is named."""
    fake, keys = start(make_fake, "--vault-opt", "dead_peers=vault-3", ready="active")
    r = upgrade(fake, keys, "--image", "hashicorp/vault:1.21.3", "--keys-file", keys["_path"],
                "--yes")
    assert r.returncode == 1
    m = re.fullmatch(r"kubectl vault-ha: refusing to upgrade vault/vault: the cluster is "
                     r"degraded: raft peer (\S+) \(vault-3\.vault-internal:8201\) has no pod: a "
                     r"dead voter that eats failure tolerance; remove it; run `kubectl vault-ha "
                     r"remove-peer \1`\n", r.stderr)
    assert m, r.stderr
    assert changes(fake) == []
    r = upgrade(fake, keys, "--image", "hashicorp/vault:1.21.3", "--dry-run")
    assert r.returncode == 1
    assert "kubectl vault-ha: the upgrade would not start: the cluster is degraded" in r.stderr
    assert "  3. step down vault-0 (active, " in r.stdout and "Dry run" not in r.stdout


def test_a_pod_that_never_comes_back_stops_the_upgrade(make_fake):
    fake, keys = start(make_fake)
    fake.control("broken-image", {"namespace": "vault", "image": "hashicorp/vault:1.21.9",
                                  "reason": "ImagePullBackOff"})
    r = upgrade(fake, keys, "--timeout", "8s", "--image", "hashicorp/vault:1.21.9",
                "--keys-file", keys["_path"], "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    rev = revision_of(fake)
    assert re.search(r"kubectl vault-ha: vault-2 was not healthy again within 8s \(--timeout\): "
                     r"gave up after [0-9.]+s waiting for vault-2 to run again on revision %s: "
                     r"vault-2: Pending \(ImagePullBackOff\); see `kubectl describe pod vault-2 "
                     r"-n vault`\n" % rev, r.stderr), r.stderr
    assert ("kubectl vault-ha: the upgrade stopped at step 1 of 4 (restart vault-2). Now: "
            "vault-0: active; vault-1: unsealed standby; vault-2: not running (Pending: "
            "ImagePullBackOff); see `kubectl vault-ha status`; once it is fixed, `kubectl "
            "vault-ha upgrade` again continues where it stopped\n") in r.stderr
    # Only the first standby was touched: the others still hold the quorum.
    assert [u for m, u in changes(fake) if m == "EVICT"] == [
        "/api/v1/namespaces/vault/pods/vault-2"]
    assert leaders(fake) == ["vault-0"]
    rc, doc = status_json(fake, keys)
    assert rc == 2 and doc["verdict"]["active"] == "vault-0"
    # The fix: a good image. vault-2 (down, on the broken revision) goes first, at no cost.
    r = upgrade(fake, keys, "--image", "hashicorp/vault:1.21.3", "--keys-file", keys["_path"],
                "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "  1. restart vault-2 (not running (Pending: ImagePullBackOff)" in r.stdout
    rc, doc = status_json(fake, keys)
    assert rc == 0 and {p["vault"]["version"] for p in doc["pods"]} == {"1.21.3"}


def test_keys_from_the_prompt(make_fake, tmp_path):
    """On a terminal: the plan, the confirmation, the keys asked once (hidden), then the
    roll; no key on the screen."""
    fake, keys = start(make_fake)
    # The token from a 0600 file: never in a command line, not even the test's shell's.
    token_file = tmp_path / "token"
    token_file.write_text(keys["root_token"] + "\n")
    os.chmod(token_file, 0o600)
    cmd = command_line(fake, ["upgrade", "--image", "hashicorp/vault:1.21.3", "--token-file",
                              str(token_file)])
    t = Tmux(tmp_path, cmd + "; echo EXIT=$?; sleep 120")
    try:
        for i in range(3):
            t.wait_for("Unseal key %d of 3 (will be hidden):" % (i + 1))
            t.send("-l", keys["unseal_keys_b64"][i])
            t.send("Enter")
        t.wait_for("Restart 3 pods of vault/vault one at a time onto 1.21.3 (1 leader change)? "
                   "[y/N]")
        t.send("y", "Enter")
        screen = t.wait_for("EXIT=", timeout=240)
        assert "EXIT=0" in screen, screen
        assert "Upgrade complete: every pod of vault/vault runs revision" in screen
        for k in keys["unseal_keys_b64"] + keys["unseal_keys_hex"]:
            assert k[:12] not in screen
    finally:
        t.close()
    assert len(leaders(fake)) == 2
    assert_no_secret_in_argv(fake, keys)


def test_openbao(make_fake):
    fake, keys = start(make_fake, "--openbao")
    r = upgrade(fake, keys, "--image", "quay.io/openbao/openbao:2.6.3", "--keys-file",
                keys["_path"], "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("Upgrade plan for vault/vault-openbao: 2.6.2 -> 2.6.3 "
                               "(quay.io/openbao/openbao:2.6.3, a new revision once the "
                               "StatefulSet is patched)\n  0. patch statefulset "
                               "vault/vault-openbao: image quay.io/openbao/openbao:2.6.2 -> "
                               "quay.io/openbao/openbao:2.6.3 (container openbao)\n")
    assert [l for l in milestones(r.stderr) if l.startswith("[")] == [
        "[1/4] restart vault-openbao-2", "[2/4] restart vault-openbao-1",
        "[3/4] step down vault-openbao-0", "[4/4] restart vault-openbao-0"]
    # The token went to bao as BAO_TOKEN, on stdin.
    assert any(e["command"][:2] == ["sh", "-c"] and "BAO_TOKEN" in e["command"][2]
               for e in fake.exec_log())
    assert len(leaders(fake)) == 2
    r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig,
                   env={"BAO_TOKEN": keys["root_token"]})
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and {p["vault"]["version"] for p in doc["pods"]} == {"2.6.3"}


def test_auto_unseal_needs_no_keys(make_fake):
    fake, keys = start(make_fake, "--vault-opt", "seal_type=transit",
                       "--vault-opt", "auto_unseal_seconds=10")
    r = upgrade(fake, keys, "--image", "hashicorp/vault:1.21.3", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Seal transit: restarted pods unseal themselves; no unseal keys needed." in r.stderr
    # A restarted pod unseals itself 10 s after its restart (1 s of it to come back): the
    # bring-up waits for that instead of submitting keys. (10 s: on a busy machine the reads
    # after the restart took more than 5.)
    for pod in ("vault-2", "vault-1", "vault-0"):
        assert re.search(r"^waiting for %s to unseal itself \(seal transit\)\.\.\. %s is "
                         r"unsealed \(\d+\.\d s\)$" % (pod, pod), r.stderr, re.M), r.stderr
    assert len(leaders(fake)) == 2
    assert not any("sys/unseal" in " ".join(e["command"]) for e in fake.exec_log())
