"""The runbook through the plugin against the fake (docs/design.md, docs/vault-cli.md):
bootstrap, leader loss and unseal, init/unseal/join failure paths, peers,
step-down, remove-peer, 5 replicas, and secret hygiene: no key or token ever
in an exec argv (the API server's audit log) or in -v output."""
import json
import os
import re
import stat
import subprocess
import time

import pytest

from conftest import BIN, bootstrapped, run_plugin, write_private

B64_KEY = "IXyR0OJnSFobekZMMCKCoVEpT7wI6l+USMzE3IcyDyoA"  # well-formed, wrong


def status_doc(fake, token=None):
    env = {"VAULT_TOKEN": token} if token else None
    r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig, env=env)
    return r.returncode, json.loads(r.stdout)


def wait_status(fake, rc_wanted, token=None, timeout=90):
    """Polls status until its exit code is rc_wanted (a new leader takes a moment)."""
    import time
    deadline = time.time() + timeout
    while True:
        rc, doc = status_doc(fake, token)
        if rc == rc_wanted or time.time() > deadline:
            return rc, doc
        time.sleep(0.5)


def all_secrets(keys):
    return keys["unseal_keys_b64"] + keys["unseal_keys_hex"] + [keys["root_token"]]


def assert_no_secret_in_argv(fake, keys):
    for e in fake.exec_log():
        text = json.dumps(e)
        for s in all_secrets(keys):
            assert s not in text, e
    for e in fake.audit_log():
        for s in all_secrets(keys):
            assert s not in e["uri"]


def test_runbook_bootstrap_leader_loss_unseal(fake, tmp_path):
    keys = bootstrapped(fake, tmp_path)
    assert stat.S_IMODE(os.stat(keys["_path"]).st_mode) == 0o600
    assert len(keys["unseal_keys_b64"]) == 5 and keys["unseal_threshold"] == 3
    assert keys["root_token"].startswith("hvs.")
    rc, doc = status_doc(fake, keys["root_token"])
    assert rc == 0 and doc["verdict"]["state"] == "healthy"
    leader = doc["verdict"]["active"]
    assert fake.kubectl("delete", "pod", leader, "-n", "vault").returncode == 0
    rc, doc = wait_status(fake, 2)
    assert rc == 2, doc["verdict"]
    assert doc["verdict"]["active"] not in (None, leader)
    assert "1 pod is sealed" in doc["verdict"]["problems"]
    assert doc["verdict"]["next"] == ["kubectl vault-ha unseal"]
    r = run_plugin(["unseal", "--keys-file", keys["_path"]], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == ["%s: 1/3" % leader, "%s: 2/3" % leader,
                                     "%s: unsealed" % leader,
                                     "%s is active." % doc["verdict"]["active"]]
    rc, doc = status_doc(fake, keys["root_token"])
    assert rc == 0, doc["verdict"]
    assert_no_secret_in_argv(fake, keys)


def test_bootstrap_is_idempotent_and_resumes(fake, tmp_path):
    keys = bootstrapped(fake, tmp_path)
    token = write_private(tmp_path / "token", keys["root_token"] + "\n")
    fake.kubectl("delete", "pod", "vault-1", "-n", "vault")
    fake.control("wipe", {"namespace": "vault", "pod": "vault-2"})
    r = run_plugin(["bootstrap", "--keys-file", keys["_path"], "--token-file", token],
                   kubeconfig=fake.kubeconfig, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "Vault is initialized (2 pods): continuing with unseal and join." in r.stderr
    assert "vault-1: unsealed" in r.stderr
    assert "vault-2: joined http://" in r.stderr
    assert "vault-2: raft voter" in r.stderr
    assert "Cluster: healthy" in r.stdout


def test_init_refusals_and_options(fake, tmp_path):
    out = tmp_path / "keys.json"
    out.write_text("precious")
    r = run_plugin(["init", "--output", str(out)], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert "cannot create %s: File exists (an existing keys file is never overwritten)" % out \
        in r.stderr
    assert out.read_text() == "precious"
    assert not any("init" in e["command"] for e in fake.exec_log())
    r = run_plugin(["init", "--key-shares", "3", "--key-threshold", "4"], kubeconfig=fake.kubeconfig)
    assert "--key-threshold (4) must be between 1 and --key-shares (3)" in r.stderr
    new = tmp_path / "new.json"
    r = run_plugin(["init", "vault-1", "--key-shares", "3", "--key-threshold", "2", "--output",
                    str(new)], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Vault initialized on vault-1 with 3 key shares and a key "
                               "threshold of 2.\nUnseal keys and root token written to %s" % new)
    keys = json.loads(new.read_text())
    assert list(keys) == ["unseal_keys_b64", "unseal_keys_hex", "unseal_shares",
                          "unseal_threshold", "recovery_keys_b64", "recovery_keys_hex",
                          "recovery_keys_shares", "recovery_keys_threshold", "root_token"]
    r = run_plugin(["init"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert "Vault is already initialized (vault-1): refusing to initialize again" in r.stderr


def test_init_with_pgp_keys(fake, tmp_path):
    """--pgp-keys / --root-token-pgp-key: the local key files are copied into the pod (on stdin,
    length-bounded), passed as paths, removed afterwards; the shares come back encrypted and
    decrypt to keys that unseal. A missing key file is named before anything runs."""
    import base64
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "fake"))
    from vaultsim import pgp
    pairs = [pgp.make_test_key("u%d <u%d@example.invalid>" % (i, i)) for i in range(3)]
    files = []
    for i, (public, _) in enumerate(pairs):
        f = tmp_path / ("u%d.pub" % i)
        f.write_bytes(public)
        files.append(str(f))

    r = run_plugin(["init", "--key-shares", "3", "--key-threshold", "2", "--pgp-keys",
                    ",".join(files[:2] + [str(tmp_path / "nope.pub")]),
                    "--output", str(tmp_path / "k0.json")], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert "cannot open %s: No such file or directory" % (tmp_path / "nope.pub") in r.stderr
    assert not (tmp_path / "k0.json").exists()
    assert pod_temp_dirs([e["command"] for e in fake.exec_log()]) == []  # nothing copied

    out = tmp_path / "k.json"
    r = run_plugin(["init", "--key-shares", "3", "--key-threshold", "2", "--pgp-keys",
                    ",".join(files), "--root-token-pgp-key", files[0], "--output", str(out)],
                   kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    shares = [pgp.decrypt(priv, base64.b64decode(b))
              for (_, priv), b in zip(pairs, doc["unseal_keys_b64"])]
    root = pgp.decrypt(pairs[0][1], base64.b64decode(doc["root_token"])).decode()
    assert root.startswith("hvs.") or root.startswith("s."), root
    cmds = [e["command"] for e in fake.exec_log()]
    init = [c for c in cmds if c[:3] == ["vault", "operator", "init"]][0]
    (d,) = pod_temp_dirs(cmds)
    remote = ["%s/pgp-%d.key" % (d, i) for i in range(3)]
    assert "-pgp-keys=%s" % ",".join(remote) in init
    assert "-root-token-pgp-key=%s/root-0.key" % d in init
    assert ["rm", "-rf", "--", d] in cmds
    assert os.listdir(pod_tmp(fake, "vault-0")) == []
    # the decrypted shares unseal vault-0 (base64 shares, two of three)
    keys = tmp_path / "plain.json"
    write_private(keys, json.dumps({"unseal_keys_b64": [base64.b64encode(k).decode()
                                                        for k in shares[:2]]}))
    r = run_plugin(["unseal", "vault-0", "--keys-file", str(keys)], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    assert "vault-0: unsealed" in r.stderr + r.stdout


def pod_temp_dirs(cmds):
    """The private directories init's runs made in a pod (the ones they removed)."""
    dirs = [c[3] for c in cmds if c[:3] == ["rm", "-rf", "--"]]
    assert all(re.fullmatch(r"/tmp/vault-ha-init\.\w{6}", d) for d in dirs), dirs
    return dirs


def pod_tmp(fake, pod):
    return os.path.join(fake.state_dir, "pods", "vault", pod, "fs", "tmp")


def test_init_key_copies_private_and_checked(fake, tmp_path):
    """--pgp-keys: each init copies the keys into its own `mktemp -d` directory, reads them
    back (sha256sum) before `operator init`, and removes the directory on every path. A copy
    changed in the pod (here: an image whose `head` alters what it writes, as anyone with exec
    into the pod could) is refused before init, so no share is encrypted to another key."""
    import shutil
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "fake"))
    from vaultsim import pgp
    files = []
    for i in range(3):
        f = tmp_path / ("u%d.pub" % i)
        f.write_bytes(pgp.make_test_key("u%d <u%d@example.invalid>" % (i, i))[0])
        files.append(str(f))
    args = ["init", "--key-shares", "3", "--key-threshold", "2", "--pgp-keys", ",".join(files),
            "--output", str(tmp_path / "k.json")]
    tool = os.path.join(fake.state_dir, "image-bin", "head")
    os.makedirs(os.path.dirname(tool))
    with open(tool, "w") as f:
        f.write("#!/bin/sh\n%s \"$@\" | tr 'A-Za-z' 'N-ZA-Mn-za-m'\n" % shutil.which("head"))
    os.chmod(tool, 0o755)
    r = run_plugin(args, kubeconfig=fake.kubeconfig)
    assert r.returncode == 1, r.stderr
    assert r.stderr == ("kubectl vault-ha: the copy of %s in vault-0 is not the file that was "
                        "sent (its SHA-256 differs): someone changed it; init refused, so that no "
                        "share is encrypted to another key\n" % files[0]), r.stderr
    cmds = [e["command"] for e in fake.exec_log()]
    assert not any(c[:3] == ["vault", "operator", "init"] for c in cmds)
    (first,) = pod_temp_dirs(cmds)
    assert os.listdir(pod_tmp(fake, "vault-0")) == []
    assert not (tmp_path / "k.json").exists()

    os.remove(tool)
    before = len(cmds)
    r = run_plugin(args, kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    cmds = [e["command"] for e in fake.exec_log()][before:]
    (second,) = pod_temp_dirs(cmds)
    assert second != first  # two runs never share a directory
    # In order: the directory, the copies, the check, init, the removal.
    steps = [i for i, c in enumerate(cmds) if c[:2] == ["sh", "-c"] and second in c[3] or
             c[:3] == ["vault", "operator", "init"] or c[:2] == ["rm", "-rf"]]
    kinds = [cmds[i][2].split()[0] if cmds[i][0] == "sh" else cmds[i][0] for i in steps]
    assert kinds == ["head", "head", "head", "cd", "vault", "rm"], [cmds[i] for i in steps]
    assert any(c[:3] == ["sh", "-c", 'cd "$0" && exec mktemp -d vault-ha-init.XXXXXX']
               for c in cmds[:steps[0]])
    assert os.listdir(pod_tmp(fake, "vault-0")) == []


def test_init_prints_keys_once(fake):
    r = run_plugin(["init"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [l.split(":")[0] for l in lines[:5]] == ["Unseal Key %d" % i for i in range(1, 6)]
    assert lines[6].startswith("Initial Root Token: hvs.")
    assert "Store the unseal keys and the root token safely now" in r.stderr


def test_unseal_failure_paths(fake, tmp_path):
    keys = bootstrapped(fake, tmp_path)
    fake.kubectl("delete", "pod", "vault-2", "-n", "vault")
    # Malformed: refused locally, nothing sent.
    bad = write_private(tmp_path / "bad", "not-a-key\n")
    before = len(fake.exec_log())
    r = run_plugin(["unseal", "--keys-file", bad], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert "%s:1: not an unseal key: it must be hex or base64" % bad in r.stderr
    assert not any("sys/unseal" in e["command"] for e in fake.exec_log()[before:])
    # A stray control character in a JSON keys file: the file, line and column, never a
    # piece of the key (jansson's own message quotes 16 characters of it, into CI logs).
    key = keys["unseal_keys_b64"][0]
    ctl = write_private(tmp_path / "ctl.json", '{"unseal_keys_b64": [\n  "%s\x01%s"]}\n'
                        % (key[:16], key[16:]))
    r = run_plugin(["unseal", "--keys-file", ctl], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert r.stderr == ("kubectl vault-ha: %s:2:%d: not valid JSON: a control character\n"
                        % (ctl, 3 + 16))
    assert not any(key[i:i + 8] in r.stderr for i in range(len(key) - 7)), r.stderr
    assert not any("sys/unseal" in e["command"] for e in fake.exec_log()[before:])
    # Well-formed but wrong: accepted until the threshold, then Vault's error.
    wrong = write_private(tmp_path / "wrong", "\n".join([B64_KEY] * 1 + [
        "AXyR0OJnSFobekZMMCKCoVEpT7wI6l+USMzE3IcyDyoB", "BXyR0OJnSFobekZMMCKCoVEpT7wI6l+USMzE3IcyDyoC"]))
    r = run_plugin(["unseal", "--keys-file", wrong], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert ("vault-2: 1/3\nvault-2: 2/3\nvault-2: the keys of this round did not unseal it: one "
            "of them is wrong or from another cluster (") in r.stderr
    assert "Vault reset its unseal progress to 0/3: every key holder must submit their key " \
        "again\n" in r.stderr
    # Fewer keys than the threshold: submitted, the round waits for the next key holder.
    two = write_private(tmp_path / "two", "\n".join(keys["unseal_keys_b64"][:2]))
    r = run_plugin(["unseal", "--keys-file", two], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("vault-2: 1/3\nvault-2: 2/3\n"
                        "vault-2: 2/3, 1 more key needed (from another key holder)\n"
                        "Keys accepted. Next key holder: `kubectl vault-ha unseal`\n")
    # A keys file others can read.
    open_file = tmp_path / "open"
    open_file.write_text("\n".join(keys["unseal_keys_b64"]))
    os.chmod(open_file, 0o644)
    r = run_plugin(["unseal", "--keys-file", str(open_file)], kubeconfig=fake.kubeconfig)
    assert "group or others can read it (mode 0644): run chmod 600" in r.stderr
    # No terminal and no keys file.
    r = run_plugin(["unseal"], kubeconfig=fake.kubeconfig, input="")
    assert r.returncode == 1
    assert "unseal keys are needed: run on a terminal to be asked for them, or use --keys-file" \
        in r.stderr
    # Keys on stdin.
    r = run_plugin(["unseal", "--keys-file", "-"], kubeconfig=fake.kubeconfig,
                   input="\n".join(keys["unseal_keys_hex"][2:5]) + "\n")
    assert r.returncode == 0, r.stderr
    assert "vault-2: unsealed" in r.stderr
    r = run_plugin(["unseal", "vault-2"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0 and "vault-2: already unsealed" in r.stderr
    r = run_plugin(["unseal", "vault-9"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 64
    assert "no pod \"vault-9\" in StatefulSet vault/vault (pods: vault-0 to vault-2)" in r.stderr
    assert_no_secret_in_argv(fake, keys)


def test_unseal_pod_not_running(make_fake, tmp_path):
    fake = make_fake("--pod-state", "vault-2=Pending:Unschedulable")
    r = run_plugin(["unseal", "vault-2", "--keys-file", "-"], kubeconfig=fake.kubeconfig, input="")
    assert r.returncode == 64
    assert "vault-2 is not running (Pending: Unschedulable: 0/3 nodes are available" in r.stderr


def test_join_wiped_pod_and_leader_errors(fake, tmp_path):
    keys = bootstrapped(fake, tmp_path)
    fake.control("wipe", {"namespace": "vault", "pod": "vault-1"})
    rc, doc = status_doc(fake, keys["root_token"])
    assert "1 pod is not initialized: not joined to the raft cluster" in doc["verdict"]["problems"]
    assert "kubectl vault-ha join" in doc["verdict"]["next"]
    # A name the pod cannot resolve: caught by the DNS preflight, nothing joined.
    before = len(fake.exec_log())
    r = run_plugin(["join", "--leader-addr", "http://nowhere.vault-internal:8200", "--keys-file",
                    keys["_path"], "--no-wait", "--timeout", "3s"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert r.stderr.startswith("waiting for nowhere.vault-internal to resolve from the joining "
                               "pods (DNS lags behind new pods)... timed out\n"), r.stderr
    assert ("vault-1: cannot resolve nowhere.vault-internal from the pod: check that the headless "
            "service vault-internal lists the leader (kubectl get endpoints vault-internal -n "
            "vault) and that the cluster DNS works") in r.stderr
    assert not any("join" in e["command"] for e in fake.exec_log()[before:])
    # It resolves but nothing answers there: Vault's reason comes from the pod's log.
    r = run_plugin(["join", "--leader-addr", "http://vault-0.vault-internal:8299", "--keys-file",
                    keys["_path"], "--no-wait"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert "vault-1: could not reach the leader at http://vault-0.vault-internal:8299 (failed to " \
           "join raft cluster: failed to get raft challenge; " in r.stderr
    token = write_private(tmp_path / "token", keys["root_token"])
    r = run_plugin(["join", "--keys-file", keys["_path"], "--token-file", token],
                   kubeconfig=fake.kubeconfig, timeout=120)
    assert r.returncode == 0, r.stderr
    # The non-voter phase lasts the simulator's stabilization time; on a loaded machine the
    # first look may already find a voter, so only the end state is asserted.
    assert "vault-1: raft voter" in r.stderr
    r = run_plugin(["join"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0 and r.stdout == "Every running pod is a raft member already.\n"
    assert_no_secret_in_argv(fake, keys)


def test_join_waits_for_the_leaders_name_to_resolve(fake, tmp_path):
    """StatefulSet DNS lags behind a pod's start (kubernetes/kubernetes#92559): the join
    waits for the leader's name instead of failing."""
    keys = bootstrapped(fake, tmp_path)
    leader = status_doc(fake)[1]["verdict"]["active"]
    fake.control("wipe", {"namespace": "vault", "pod": "vault-2" if leader != "vault-2"
                          else "vault-1"})
    # The leader's record is missing until the join is seen waiting for it, then appears: the
    # wait is shown whatever the machine's load (a lag of fixed seconds could end first).
    fake.control("dns", {"namespace": "vault", "pod": leader, "mode": "nxdomain"})
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update({"HOME": "/nonexistent", "KUBECONFIG": fake.kubeconfig})
    proc = subprocess.Popen([BIN, "join", "--keys-file", keys["_path"], "--no-wait"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    waiting = ("waiting for %s.vault-internal to resolve from the joining pods (DNS lags behind "
               "new pods)..." % leader).encode()
    seen = b""
    deadline = time.time() + 120
    while waiting not in seen and time.time() < deadline:
        chunk = proc.stderr.read1(4096)
        if not chunk:
            break
        seen += chunk
    assert waiting in seen, seen
    fake.control("dns", {"namespace": "vault", "pod": leader, "mode": "ok"})
    out, rest = proc.communicate(timeout=120)
    err = (seen + rest).decode()
    assert proc.returncode == 0, err
    assert re.search(r"^waiting for %s\.vault-internal to resolve from the joining pods \(DNS "
                     r"lags behind new pods\)\.\.\. %s\.vault-internal resolves \(\d+\.\d s\)$"
                     % (leader, leader), err, re.M), err
    assert re.search(r"^vault-\d: joined http://%s\.vault-internal:8200$" % leader, err,
                     re.M), err


def test_join_without_active_node(fake):
    r = run_plugin(["join", "--keys-file", "-"], kubeconfig=fake.kubeconfig, input="")
    assert r.returncode == 1
    assert r.stderr == (
        "kubectl vault-ha: no active node: Vault is not initialized (vault-0: not initialized; "
        "vault-1: not initialized; vault-2: not initialized): run `kubectl vault-ha bootstrap "
        "--output vault-keys.json` (or `kubectl vault-ha init`)\n")


def test_peers_step_down_remove_peer(fake, tmp_path):
    keys = bootstrapped(fake, tmp_path)
    env = {"VAULT_TOKEN": keys["root_token"]}
    r = run_plugin(["peers"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert "a Vault token is needed: set VAULT_TOKEN, use --token-file FILE" in r.stderr
    r = run_plugin(["peers"], kubeconfig=fake.kubeconfig, env={"VAULT_TOKEN": "hvs.wrong"})
    assert r.returncode == 1 and "permission denied" in r.stderr
    r = run_plugin(["list-peers", "-o", "json"], kubeconfig=fake.kubeconfig, env=env)
    assert r.returncode == 0, r.stderr
    peers = json.loads(r.stdout)
    assert sorted(p["pod"] for p in peers) == ["vault-0", "vault-1", "vault-2"]
    assert [p["voter"] for p in peers] == [True] * 3
    assert sum(p["leader"] for p in peers) == 1
    r = run_plugin(["peers"], kubeconfig=fake.kubeconfig, env=env)
    assert r.stdout.splitlines()[0].split() == ["NODE", "ID", "POD", "ADDRESS", "STATE", "VOTER"]
    old = [p["pod"] for p in peers if p["leader"]][0]
    r = run_plugin(["step-down"], kubeconfig=fake.kubeconfig, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"(vault-\d) is active now \(was %s\)\.\n" % old, r.stdout)
    assert m and m.group(1) != old
    # remove-peer: unknown, leader, no terminal without --yes, quorum.
    r = run_plugin(["remove-peer", "nope"], kubeconfig=fake.kubeconfig, env=env)
    assert r.returncode == 1 and "\"nope\" is not a raft peer; peers:" in r.stderr
    new_leader = m.group(1)
    r = run_plugin(["remove-peer", new_leader], kubeconfig=fake.kubeconfig, env=env)
    assert "is the raft leader: step it down first" in r.stderr
    victim = [p for p in ("vault-0", "vault-1", "vault-2") if p != new_leader][0]
    other = [p for p in ("vault-0", "vault-1", "vault-2") if p not in (new_leader, victim)][0]
    r = run_plugin(["remove-peer", victim], kubeconfig=fake.kubeconfig, env=env, input="")
    assert r.returncode == 1 and "refusing without a terminal to confirm; add --yes" in r.stderr
    fake.kubectl("delete", "pod", other, "-n", "vault")
    r = run_plugin(["remove-peer", victim, "--yes"], kubeconfig=fake.kubeconfig, env=env)
    assert r.returncode == 1
    assert "would leave 1 live voter of 2, below the quorum of 2: refusing" in r.stderr
    r = run_plugin(["unseal", "--keys-file", keys["_path"]], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0
    r = run_plugin(["remove-peer", victim, "--yes"], kubeconfig=fake.kubeconfig, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Removed raft peer ")
    peers = json.loads(run_plugin(["peers", "-o", "json"], kubeconfig=fake.kubeconfig,
                                  env=env).stdout)
    assert victim not in [p["pod"] for p in peers]
    assert_no_secret_in_argv(fake, keys)


def test_five_replicas(make_fake, tmp_path):
    fake = make_fake("--replicas", "5")
    keys = bootstrapped(fake, tmp_path)
    rc, doc = status_doc(fake, keys["root_token"])
    assert rc == 0
    assert doc["raft"]["voters"] == 5 and doc["raft"]["quorum"] == 3
    assert doc["raft"]["failureTolerance"] == 2


def test_secrets_not_in_verbose_trace(fake, tmp_path):
    keys = bootstrapped(fake, tmp_path)
    fake.kubectl("delete", "pod", "vault-0", "-n", "vault")
    r = run_plugin(["-v", "unseal", "--keys-file", keys["_path"]], kubeconfig=fake.kubeconfig)
    r2 = run_plugin(["-v", "peers"], kubeconfig=fake.kubeconfig,
                    env={"VAULT_TOKEN": keys["root_token"]})
    assert "trace: " in r.stderr
    for s in all_secrets(keys):
        assert s not in r.stderr + r.stdout + r2.stderr + r2.stdout


def test_openbao(make_fake, tmp_path):
    """docs/vault-cli.md §8: the bao CLI, BAO_TOKEN, openbao-* labels, container openbao, and the
    chart's OrderedReady StatefulSet: only openbao-0 exists until it is Ready (unsealed), so
    bootstrap waits for each next pod, joins and unseals it, pod by pod."""
    fake = make_fake("--openbao", "--release", "openbao")
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    assert "  - openbao-1 has no pod: waiting for openbao-0 to be Ready (podManagementPolicy " \
           "OrderedReady)" in r.stdout, r.stdout
    keys_path = tmp_path / "keys.json"
    r = run_plugin(["bootstrap", "--output", str(keys_path)], kubeconfig=fake.kubeconfig,
                   timeout=180)
    assert r.returncode == 0, r.stderr
    # openbao-1 may already be there after the wait for an active node; openbao-2 cannot be
    assert ("openbao-2: not created yet (podManagementPolicy OrderedReady: the StatefulSet "
            "creates it once the pods before it are Ready)\nwaiting for openbao-2 to run... "
            "openbao-2 is running (") in r.stderr, r.stderr
    assert re.search(r"openbao-2 is running \(\d+\.\d s\)\nopenbao-2: joined ", r.stderr), \
        r.stderr
    assert "Cluster: healthy (3 voters, 3 unsealed" in r.stdout, r.stdout
    keys = json.loads(keys_path.read_text())
    assert keys["root_token"].startswith("s.")
    r = run_plugin(["peers", "-o", "json"], kubeconfig=fake.kubeconfig,
                   env={"BAO_TOKEN": keys["root_token"]})
    assert r.returncode == 0, r.stderr
    assert sorted(p["pod"] for p in json.loads(r.stdout)) == ["openbao-0", "openbao-1",
                                                               "openbao-2"]
    cmds = [e["command"] for e in fake.exec_log()]
    # The CLI that runs in the pods is bao; the status reads go through pods/proxy.
    assert ["bao", "write", "-format=json", "sys/unseal", "-"] in cmds
    assert not any("status" in c for c in cmds), cmds
    assert any(c[:2] == ["sh", "-c"] and "BAO_TOKEN" in c[2] and c[3] == "bao" for c in cmds)
    assert {e["container"] for e in fake.exec_log()} == {"openbao"}


def test_tls_join_causes_from_the_pod_log(make_fake, tmp_path):
    """docs/vault-cli.md §10.4: a failed join answers only "failed to get raft challenge";
    the x509 reason is in the joining pod's log, read through pods/log."""
    fake = make_fake("--tls")
    keys_path = tmp_path / "keys.json"
    r = run_plugin(["bootstrap", "--output", str(keys_path)], kubeconfig=fake.kubeconfig,
                   timeout=180)
    assert r.returncode == 1
    assert ("vault-1: the leader's TLS certificate is not trusted (x509: certificate signed by "
            "unknown authority, from vault-1's log): give the CA that signed it with "
            "--leader-ca-cert FILE") in r.stderr
    ca = os.path.join(fake.state_dir, "vault", "vault", "vault", "tls", "ca.crt")
    leader_ip = json.loads(fake.kubectl("get", "pod", "vault-0", "-n", "vault", "-o",
                                        "json").stdout)["status"]["podIP"]
    r = run_plugin(["join", "vault-1", "--keys-file", str(keys_path), "--leader-ca-cert", ca,
                    "--leader-addr", "https://%s:8200" % leader_ip, "--no-wait"],
                   kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert "vault-1: the leader's TLS certificate does not name https://%s:8200 (x509: " % leader_ip \
        in r.stderr
    assert "give a name it is valid for with --leader-tls-servername NAME" in r.stderr
    r = run_plugin(["join", "vault-1", "--keys-file", str(keys_path), "--leader-ca-cert", ca,
                    "--leader-addr", "https://%s:8200" % leader_ip, "--leader-tls-servername",
                    "vault-0.vault-internal", "--no-wait"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    r = run_plugin(["join", "--keys-file", str(keys_path), "--leader-ca-cert", ca, "--no-wait"],
                   kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    assert "vault-2: unsealed" in r.stderr


def test_bootstrap_tls_with_the_leader_ca(make_fake, tmp_path):
    fake = make_fake("--tls")
    ca = os.path.join(fake.state_dir, "vault", "vault", "vault", "tls", "ca.crt")
    keys = tmp_path / "keys.json"
    r = run_plugin(["bootstrap", "--output", str(keys), "--leader-ca-cert", ca],
                   kubeconfig=fake.kubeconfig, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "vault-1: joined https://vault-0.vault-internal:8200" in r.stderr
    assert "Cluster: healthy" in r.stdout
    r = run_plugin(["bootstrap", "--output", str(keys), "--leader-ca-cert", "/nonexistent/ca"],
                   kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
