"""recover (issue 15) against the fake: a cluster that lost quorum back to a working one with
peers.json (docs/vault-cli.md §10.9 "Lost-quorum recovery"). The simulator reads peers.json at
raft start with Vault's rules, and a lost pod is Pending (its node gone) or has a Lost PVC."""
import json
import os
import shutil
import time
import urllib.request

from conftest import run_plugin

FAST = ("--vault-opt", "preset=ha", "--vault-opt", "election_seconds=0.3",
        "--vault-opt", "stabilization_seconds=0.5")
UNSCHED = "lost: Pending (Unschedulable)"


class Lost:
    """A preset HA cluster whose pods can be lost; keys and token as an operator has them."""

    def __init__(self, fake, tmp, openbao=False):
        self.fake = fake
        self.rel = "openbao" if openbao else "vault"
        d = os.path.join(fake.state_dir, "vault", "vault", self.rel)
        self.keys = str(tmp / "keys.json")
        shutil.copy(os.path.join(d, "vault-init.json"), self.keys)
        os.chmod(self.keys, 0o600)
        with open(self.keys) as f:
            self.root = json.load(f)["root_token"]
        self.data = os.path.join(d, "data")

    def node_id(self, pod):
        with open(os.path.join(self.data, pod, "node-id")) as f:
            return f.read()

    def peers_file(self, pod):
        return os.path.join(self.data, pod, "raft", "peers.json")

    def api(self, pod, path, method="GET", body=None):
        """The simulated node's HTTP API (what `vault` in the pod talks to)."""
        req = urllib.request.Request("%s/_vault/vault/%s/v1/%s" % (self.fake.control_url, pod, path),
                                     method=method, headers={"X-Vault-Token": self.root},
                                     data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read()
                return json.loads(text) if text else {}
        except urllib.error.HTTPError as e:
            return {"_status": e.code}

    def lose(self, *pods, how="node"):
        for p in pods:
            self.fake.control("lose", {"namespace": "vault", "pod": p, "how": how})

    def wait_no_leader(self, pod, timeout=30):
        deadline = time.time() + timeout
        while self.api(pod, "sys/leader").get("is_self") and time.time() < deadline:
            time.sleep(0.2)
        assert not self.api(pod, "sys/leader").get("is_self")

    def recover(self, *args, token=True, timeout=180):
        return run_plugin(["recover"] + list(args), kubeconfig=self.fake.kubeconfig,
                          env={"VAULT_TOKEN": self.root} if token else None, timeout=timeout)

    def plugin(self, *args, timeout=180):
        return run_plugin(list(args), kubeconfig=self.fake.kubeconfig,
                          env={"VAULT_TOKEN": self.root}, timeout=timeout)


def row(pod, nid, state, suffix=""):
    return "  %-10s %-9s %-38s %-34s %s%s" % (pod, "voter", nid, "%s.vault-internal:8201" % pod, state,
                                             suffix)


def peers_json(entries):
    return json.dumps([{"id": i, "address": a, "non_voter": False} for i, a in entries], indent=2) + "\n"


def test_three_voters_two_lost_recover_one_then_join_two(make_fake, tmp_path):
    fake = make_fake(*FAST)
    c = Lost(fake, tmp_path)
    assert c.api("vault-0", "cubbyhole/app", "PUT", {"v": "before the loss"}) == {}
    index = c.api("vault-0", "sys/leader")["raft_committed_index"]
    ids = [c.node_id("vault-%d" % i) for i in range(3)]
    c.lose("vault-1")
    c.lose("vault-2", how="pvc")
    c.wait_no_leader("vault-0")
    r = c.recover("--yes", "--keys-file", c.keys)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.splitlines()
    assert out[0].startswith("Raft configuration (from vault-0's server log, 20")
    assert out[0].endswith("): 3 voters, a quorum needs 2")
    assert out[1:4] == [row("vault-0", ids[0], "survivor: unsealed standby", ", raft index %d" % index),
                        row("vault-1", ids[1], UNSCHED),
                        row("vault-2", ids[2], UNSCHED + "; PVC data-vault-2 is Lost")]
    assert out[4:6] == ["Quorum is lost: 1 of 3 voters survives.",
                        "Most up-to-date survivor: vault-0 (raft index %d)." % index]
    text = r.stdout
    assert ("peers.json for /vault/data/raft/peers.json:\n" +
            peers_json([(ids[0], "vault-0.vault-internal:8201")])) in text
    assert "  2. restart vault-0 (delete the pod; the StatefulSet recreates it on the same volume)" in text
    assert "\nRecovered: vault-0 is active; the raft configuration is vault-0.\n" in text
    assert ("  vault-1: Pending (Unschedulable). When it runs again with a new, empty volume, join it: "
            "kubectl vault-ha join vault-1; if it comes back with its old volume, that data belongs to "
            "the old configuration: remove it first (kubectl -n vault delete pvc data-vault-1 "
            "--wait=false && kubectl -n vault delete pod vault-1), then join it") in text
    err = r.stderr.splitlines()
    assert err[:2] == ["vault-0: peers.json written and read back",
                       "vault-0: deleted, the StatefulSet recreates it"]
    assert "vault-0: unsealed" in err and err[-1] == "vault-0: peers.json is gone (Vault recovered from it)"
    assert not os.path.exists(c.peers_file("vault-0"))
    # Content on stdin, never in argv; written as the vault user (owner of the raft folder).
    writes = [e for e in fake.exec_log() if e["command"][:2] == ["sh", "-c"] and "peers.json" in e["command"][2]]
    assert [w["command"][3:] for w in writes] == \
        [["/vault/data", str(len(peers_json([(ids[0], "vault-0.vault-internal:8201")])))]]
    assert not any(ids[0] in json.dumps(e["command"]) for e in fake.exec_log())
    # The lost pods come back with new, empty volumes and join: 3 healthy voters again.
    fake.control("unpatch", {"namespace": "vault", "kind": "PersistentVolumeClaim", "name": "data-vault-2"})
    for p in ("vault-1", "vault-2"):
        fake.control("wipe", {"namespace": "vault", "pod": p})
        fake.control("pod-state", {"namespace": "vault", "pod": p, "state": "Running"})
    r = c.plugin("join", "--keys-file", c.keys)
    assert r.returncode == 0, r.stderr
    r = c.plugin("status", "-o", "json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["verdict"]["state"] == "healthy", r.stdout
    peers = c.api("vault-0", "sys/storage/raft/configuration")["data"]["config"]["servers"]
    assert sorted((p["address"], p["voter"]) for p in peers) == \
        [("vault-%d.vault-internal:8201" % i, True) for i in range(3)]
    assert c.api("vault-0", "cubbyhole/app")["data"] == {"v": "before the loss"}
    assert c.api("vault-0", "sys/leader")["raft_committed_index"] > index


def test_five_voters_three_lost_recover_from_two(make_fake, tmp_path):
    """The leader is among the lost: the followers' logs show no configuration (a follower that
    joined and never restarted printed servers=[]), so recover refuses to assume it from the
    StatefulSet (issue 18 defect 7) and says how to get it: unseal the sealed survivor, whose raft
    prints it when it starts. Node ids from VAULT_RAFT_NODE_ID (setNodeId): no node-id file."""
    fake = make_fake(*FAST, "--replicas", "5", "--set-node-id")
    c = Lost(fake, tmp_path)
    assert c.api("vault-3", "cubbyhole/app", "PUT", {"v": "five"}) == {}
    c.lose("vault-0", "vault-1", "vault-2")
    assert fake.kubectl("delete", "pod", "vault-4", "-n", "vault").returncode == 0
    c.wait_no_leader("vault-3")
    r = c.recover("--dry-run")
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout.splitlines()
    assert out[0] == ("Raft configuration (assumed from the StatefulSet: no pod's server log shows it): "
                      "5 voters, a quorum needs 3")
    assert out[1:6] == [row("vault-0", "?", UNSCHED), row("vault-1", "?", UNSCHED), row("vault-2", "?", UNSCHED),
                        row("vault-3", "vault-3", "survivor: unsealed standby",
                            ", raft index %d" % c.api("vault-3", "sys/leader")["raft_committed_index"]),
                        row("vault-4", "vault-4", "survivor: sealed", ", raft index unknown until unsealed")]
    assert "Plan:" not in r.stdout
    assert r.stderr == ("kubectl vault-ha: no pod's server log shows the raft configuration, so its members "
                        "and addresses cannot be confirmed (recover does not assume "
                        "<pod>.vault-internal:8201): raft prints it when it starts: unseal vault-4 "
                        "(`kubectl vault-ha unseal`), then run `kubectl vault-ha recover` again\n")
    assert not [e for e in fake.exec_log() if e["command"][:1] in (["sh"], ["rm"])]
    # As told: vault-4's raft starts at its unseal and logs the configuration. (Through its API:
    # `unseal` would then wait for a leader that cannot come without the lost voters.)
    with open(c.keys) as f:
        keys = json.load(f)
    for k in keys["unseal_keys_b64"][:keys["unseal_threshold"]]:
        c.api("vault-4", "sys/unseal", "PUT", {"key": k})
    assert c.api("vault-4", "sys/seal-status")["sealed"] is False
    r = c.recover("--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.splitlines()
    assert out[0].startswith("Raft configuration (from vault-4's server log, 20"), out[0]
    assert "Quorum is lost: 2 of 5 voters survive." in out
    assert ("  2. restart vault-3, vault-4 (delete the pods; the StatefulSet recreates it on the same "
            "volume): raft reads peers.json only when it starts") in out
    assert peers_json([("vault-3", "vault-3.vault-internal:8201"),
                       ("vault-4", "vault-4.vault-internal:8201")]) in r.stdout
    r = c.recover("--yes", "--keys-file", c.keys)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "vault-3: deleted, the StatefulSet recreates it" in r.stderr
    assert "vault-4: deleted, the StatefulSet recreates it" in r.stderr
    assert "Recovered: " in r.stdout and "the raft configuration is vault-3, vault-4." in r.stdout
    peers = c.api("vault-3", "sys/storage/raft/configuration")["data"]["config"]["servers"]
    assert sorted((p["node_id"], p["voter"]) for p in peers) == [("vault-3", True), ("vault-4", True)]
    assert c.api("vault-3", "cubbyhole/app")["data"] == {"v": "five"}
    assert not os.path.exists(c.peers_file("vault-3")) and not os.path.exists(c.peers_file("vault-4"))


def test_refuses_while_quorum_holds(make_fake, tmp_path):
    fake = make_fake(*FAST)
    c = Lost(fake, tmp_path)
    r = c.recover("--dry-run", token=False)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ("kubectl vault-ha: quorum is not lost: vault-0 is active; see `kubectl vault-ha "
                        "status` or `kubectl vault-ha doctor`\n")
    # One voter lost, the two others restarted (sealed): no leader, but their data is a quorum.
    c.lose("vault-2")
    fake.kubectl("delete", "pod", "vault-0", "-n", "vault")
    fake.kubectl("delete", "pod", "vault-1", "-n", "vault")
    r = c.recover("--yes", "--keys-file", c.keys)
    assert r.returncode == 1
    assert "Quorum is lost" not in r.stdout and "Plan:" not in r.stdout
    assert r.stderr == ("kubectl vault-ha: quorum is not lost: 2 of 3 voters are running with their data, "
                        "2 of them sealed: unseal them with `kubectl vault-ha unseal`; see `kubectl "
                        "vault-ha status` or `kubectl vault-ha doctor`\n")
    assert not [e for e in fake.exec_log() if e["command"][:1] in (["sh"], ["rm"])]


def test_dry_run_changes_nothing(make_fake, tmp_path):
    fake = make_fake(*FAST)
    c = Lost(fake, tmp_path)
    c.lose("vault-1", "vault-2")
    c.wait_no_leader("vault-0")
    uid = json.loads(fake.kubectl("get", "pod", "vault-0", "-n", "vault", "-o", "json").stdout)["metadata"]["uid"]
    r = c.recover("--dry-run", token=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("\nDry run: nothing was changed.\n") and r.stderr == ""
    assert not os.path.exists(c.peers_file("vault-0"))
    assert json.loads(fake.kubectl("get", "pod", "vault-0", "-n", "vault", "-o", "json").stdout)["metadata"]["uid"] == uid
    assert [e["command"][0] for e in fake.exec_log()] and \
        all(e["command"][0] in ("vault", "cat", "printenv") for e in fake.exec_log())
    assert not [e for e in fake.audit_log() if e["method"] == "DELETE" and "/pods/" in e["uri"]]
    # Without --yes and without a terminal to type the StatefulSet's name: nothing either.
    r = c.recover("--keys-file", c.keys)
    assert r.returncode == 1
    assert r.stderr == ("kubectl vault-ha: Writing the raft configuration of vault/vault: refusing without a "
                        "terminal to confirm; add --yes\n")
    assert not os.path.exists(c.peers_file("vault-0"))


def test_a_failed_write_stops_before_any_restart(make_fake, tmp_path):
    fake = make_fake(*FAST, "--replicas", "5")
    c = Lost(fake, tmp_path)
    c.lose("vault-2", "vault-3", "vault-4")
    c.wait_no_leader("vault-0")
    fake.control("disk", {"namespace": "vault", "pod": "vault-1", "used_percent": 100})
    r = c.recover("--yes", "--keys-file", c.keys)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.splitlines() == [
        "vault-0: peers.json written and read back",
        "vault-1: /vault/data/raft/peers.json: cannot write it: tee: "
        "/vault/data/raft/.peers.json.vault-ha: No space left on device",
        "State of the pods:",
        "  vault-0: unsealed standby, unchanged: peers.json written, then removed again",
        "  vault-1: unsealed standby, unchanged: peers.json not written (cannot write it: tee: "
        "/vault/data/raft/.peers.json.vault-ha: No space left on device)",
        "  vault-2: " + UNSCHED, "  vault-3: " + UNSCHED, "  vault-4: " + UNSCHED,
        "kubectl vault-ha: recover stopped before any pod was restarted: fix the pod above and run "
        "`kubectl vault-ha recover` again"]
    assert not os.path.exists(c.peers_file("vault-0")) and not os.path.exists(c.peers_file("vault-1"))
    assert not [e for e in fake.audit_log() if e["method"] == "DELETE" and "/pods/" in e["uri"]]
    # Fixed: running it again does the whole recovery.
    fake.control("disk", {"namespace": "vault", "pod": "vault-1", "used_percent": 10})
    r = c.recover("--yes", "--keys-file", c.keys)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "the raft configuration is vault-0, vault-1." in r.stdout


def test_custom_data_path(make_fake, tmp_path):
    """Issue 18 defect 7: server.dataStorage.mountPath elsewhere (the raft path in the server
    config follows it): node-id is read, and peers.json written, where Vault has them."""
    fake = make_fake(*FAST, "--data-path", "/srv/vault-store")
    c = Lost(fake, tmp_path)
    c.lose("vault-1", "vault-2")
    c.wait_no_leader("vault-0")
    nid = c.node_id("vault-0")
    r = c.recover("--yes", "--keys-file", c.keys)
    assert r.returncode == 0, r.stdout + r.stderr
    content = peers_json([(nid, "vault-0.vault-internal:8201")])
    assert ("peers.json for /srv/vault-store/raft/peers.json:\n" + content) in r.stdout
    assert "vault-0: peers.json is gone (Vault recovered from it)" in r.stderr
    log = fake.exec_log()
    assert ["cat", "/srv/vault-store/node-id"] in [e["command"] for e in log]
    writes = [e["command"][3:] for e in log if e["command"][:2] == ["sh", "-c"] and "peers.json" in e["command"][2]]
    assert writes == [["/srv/vault-store", str(len(content))]]
    assert not any("/vault/data" in json.dumps(e["command"]) for e in log)


def test_openbao(make_fake, tmp_path):
    fake = make_fake(*FAST, "--openbao", "--release", "openbao")
    c = Lost(fake, tmp_path, openbao=True)
    c.lose("openbao-1", "openbao-2")
    deadline = time.time() + 30
    while time.time() < deadline:
        r = c.recover("--dry-run", token=False)
        if r.returncode == 0:
            break
        time.sleep(0.3)
    assert r.returncode == 0, r.stderr
    nid = c.node_id("openbao-0")
    assert ("peers.json for /openbao/data/raft/peers.json:\n" +
            peers_json([(nid, "openbao-0.openbao-internal:8201")])) in r.stdout
    r = c.recover("--yes", "--keys-file", c.keys)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Recovered: openbao-0 is active; the raft configuration is openbao-0." in r.stdout
    assert "openbao-0: peers.json is gone (Vault recovered from it)" in r.stderr
    assert any(e["command"][:1] == ["bao"] for e in fake.exec_log())


def terminal_recover(make_fake, tmp_path):
    """A cluster with vault-1 and vault-2 lost, and the shell line that runs recover on a
    terminal (tmux) with the keys and the token from files."""
    import shlex
    import shutil as sh
    import pytest
    if sh.which("tmux") is None:
        pytest.skip("tmux is installed by make deps")
    from conftest import BIN
    fake = make_fake(*FAST)
    c = Lost(fake, tmp_path)
    c.lose("vault-1", "vault-2")
    c.wait_no_leader("vault-0")
    # The token from a 0600 file: never in a command line, not even the test's shell's.
    token_file = tmp_path / "token"
    token_file.write_text(c.root + "\n")
    os.chmod(token_file, 0o600)
    line = "env -u NO_COLOR HOME=/nonexistent KUBECONFIG=%s %s recover --keys-file %s " \
           "--token-file %s" % (shlex.quote(fake.kubeconfig), shlex.quote(BIN),
                                shlex.quote(c.keys), shlex.quote(str(token_file)))
    return fake, c, line + "; echo EXIT=$?; sleep 60"


def test_typed_confirmation_on_a_terminal(make_fake, tmp_path):
    """Without --yes, the StatefulSet's name must be typed: anything else changes nothing."""
    from test_interactive import Tmux
    fake, c, line = terminal_recover(make_fake, tmp_path)
    prompt = ("Writing the raft configuration of vault/vault cannot be undone. Type the StatefulSet's "
              "name (vault) to go on:")
    t = Tmux(tmp_path, line)
    try:
        t.wait_for(prompt)
        t.send("-l", "vaulx")
        t.send("Enter")
        screen = t.wait_for("EXIT=")
        assert "EXIT=1" in screen and '"vaulx" is not vault: nothing was changed' in screen, screen
    finally:
        t.close()
    assert not os.path.exists(c.peers_file("vault-0"))
    assert not [e for e in fake.audit_log() if e["method"] == "DELETE" and "/pods/" in e["uri"]]
    t = Tmux(tmp_path, line)
    try:
        t.wait_for(prompt)
        t.send("-l", "vault")
        t.send("Enter")
        screen = t.wait_for("EXIT=", timeout=120)
        assert "EXIT=0" in screen and "Recovered: vault-0 is active" in screen, screen
    finally:
        t.close()


def test_a_lost_pod_back_during_the_prompt_stops_recover(make_fake, tmp_path):
    """Issue 18 defect 2: the judgement is made again after the prompts. vault-1 comes back with
    its data while recover waits for the StatefulSet's name: with vault-0 it is a quorum of the
    old configuration again, so forcing a new one would make two clusters. Nothing is written."""
    from test_interactive import Tmux
    fake, c, line = terminal_recover(make_fake, tmp_path)
    t = Tmux(tmp_path, line)
    try:
        t.wait_for("Type the StatefulSet's name (vault) to go on:")
        # The node comes back: vault-1 runs again, sealed, with the old configuration's data.
        fake.control("pod-state", {"namespace": "vault", "pod": "vault-1", "state": "Running"})
        deadline = time.time() + 60
        while c.api("vault-1", "sys/seal-status").get("initialized") is not True and \
                time.time() < deadline:
            time.sleep(0.2)
        t.send("-l", "vault")
        t.send("Enter")
        screen = t.wait_for("EXIT=", timeout=120)
    finally:
        t.close()
    # tmux wraps long lines at the pane's width: compare without any white space
    text = "".join(screen.split())
    assert "EXIT=1" in screen, screen
    assert "".join("kubectl vault-ha: the cluster changed while recover waited: quorum is not lost: 2 of 3 "
            "voters are running with their data, 1 of them sealed: unseal them with `kubectl vault-ha "
            "unseal`; see `kubectl vault-ha status` or `kubectl vault-ha doctor` kubectl vault-ha: "
            "nothing was written: run `kubectl vault-ha recover --dry-run` for the new diagnosis".split()) in text, \
        screen
    assert not os.path.exists(c.peers_file("vault-0")) and not os.path.exists(c.peers_file("vault-1"))
    assert not [e for e in fake.exec_log() if e["command"][:2] == ["sh", "-c"]]
    assert not [e for e in fake.audit_log() if e["method"] == "DELETE" and "/pods/" in e["uri"]]


def test_lost_voters_back_between_two_restarts_stop_recover(make_fake, tmp_path):
    """Issue 18 defect 2, the second judgement: each deletion is judged again. Two of five voters
    survive, both unsealed, so recover restarts both. Right when it deletes the first, two lost
    voters come back with their data: with vault-1 they are a quorum of the old configuration
    again. The second survivor is not restarted, and its peers.json is removed again."""
    fake = make_fake(*FAST, "--replicas", "5")  # a deleted pod runs again at once
    c = Lost(fake, tmp_path)
    c.lose("vault-2", "vault-3", "vault-4")
    c.wait_no_leader("vault-0")
    back = [{"action": "pod-state", "body": {"namespace": "vault", "pod": p, "state": "Running"}}
            for p in ("vault-2", "vault-3")]
    fake.control("on-request", {"method": "DELETE", "path": "/api/v1/namespaces/vault/pods/vault-0",
                                "then": back})
    r = c.recover("--yes", "--keys-file", c.keys)
    assert r.returncode == 1, r.stdout + r.stderr
    err = r.stderr.splitlines()
    assert err[:3] == ["vault-0: peers.json written and read back",
                       "vault-1: peers.json written and read back",
                       "vault-0: deleted, the StatefulSet recreates it"], r.stderr
    assert err[3].startswith("kubectl vault-ha: the cluster changed before vault-1 was restarted: "), \
        r.stderr
    assert "Done so far: peers.json was written on 2 pods; restarted: vault-0." in err
    assert "  vault-0: peers.json removed again" in err and "  vault-1: peers.json removed again" in err
    assert err[-1] == ("kubectl vault-ha: recover stopped: run `kubectl vault-ha recover --dry-run` "
                       "for the new diagnosis; the restarted pods come back sealed: `kubectl "
                       "vault-ha unseal` unseals them"), r.stderr
    assert not os.path.exists(c.peers_file("vault-0")) and not os.path.exists(c.peers_file("vault-1"))
    deletes = [e["uri"] for e in fake.audit_log() if e["method"] == "DELETE" and "/pods/" in e["uri"]]
    assert deletes == ["/api/v1/namespaces/vault/pods/vault-0"], deletes
