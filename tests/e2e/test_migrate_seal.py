"""migrate-seal (issue 21): Shamir <-> transit pod by pod against the fake, whose pods read the
chart's ConfigMap when they start and whose Vault models migration mode, `unseal -migrate` and
the migration on the node that becomes active (tests/fake/test_vaultsim_seal.py). Standbys
first, one step-down, the old active pod last; refusals before any change; resumable."""
import json
import re
import time

import pytest


from conftest import run_plugin
from test_upgrade import QUICK, changes, leaders

CM_KEY = "extraconfig-from-values.hcl"


def start(make_fake, *extra, ns="vault", name="fake"):
    fake = make_fake(*(QUICK + extra), name=name)
    flavor = "openbao" if "--openbao" in extra else "vault"
    release = "openbao" if "--openbao" in extra else "vault"
    path = "%s/vault/%s/%s/vault-init.json" % (fake.state_dir, ns, release)
    import os
    os.chmod(path, 0o600)
    keys = json.load(open(path))
    keys["_path"] = path
    keys["_ns"] = ns
    keys["_sts"] = release
    keys["_cli"] = "bao" if flavor == "openbao" else "vault"
    r = run_plugin(["-n", ns, "status", "--wait-for", "healthy", "--timeout", "60s"],
                   kubeconfig=fake.kubeconfig, env={"VAULT_TOKEN": keys["root_token"]})
    assert r.returncode == 0, r.stdout + r.stderr
    return fake, keys


def set_config(fake, keys, text):
    fake.control("configmap", {"namespace": keys["_ns"], "data": {CM_KEY: text}})


def base_config(fake, keys):
    r = fake.kubectl("get", "configmap", "%s-config" % keys["_sts"], "-n", keys["_ns"], "-o",
                     "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["data"][CM_KEY]


def transit(tr, disabled=False, token=True):
    return ('seal "transit" {\n  address = "%s"\n%s  key_name = "%s"\n  mount_path = "%s/"\n%s}\n'
            % (tr["address"], '  token = "%s"\n' % tr["token"] if token else "", tr["key"],
               tr["mount"], '  disabled = "true"\n' if disabled else ""))


def migrate(fake, keys, *args, input=None, timeout=400):
    return run_plugin(["-n", keys["_ns"], "migrate-seal"] + list(args),
                      kubeconfig=fake.kubeconfig, env={"VAULT_TOKEN": keys["root_token"]},
                      input=input, timeout=timeout)


def seals(fake, keys):
    out = {}
    r = run_plugin(["-n", keys["_ns"], "status", "-o", "json"], kubeconfig=fake.kubeconfig,
                   env={"VAULT_TOKEN": keys["root_token"]})
    for p in json.loads(r.stdout)["pods"]:
        out[p["name"]] = (p.get("sealType"), p.get("sealed"))
    return out


def keys_file(tmp_path, keys):
    import os
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"unseal_keys_b64": keys["unseal_keys_b64"]}))
    os.chmod(path, 0o600)
    return str(path)


def wait_back_sealed(fake, pod):
    """Until pod's new container runs and its Vault answers sealed."""
    def back_sealed():
        r = fake.kubectl("get", "pod", pod, "-n", "vault", "-o",
                         "jsonpath={.status.phase}{.metadata.deletionTimestamp}")
        if r.stdout != "Running":  # not yet, or the old pod still terminating
            return False
        r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig)
        p = [p for p in json.loads(r.stdout)["pods"] if p["name"] == pod][0]
        return p["running"] and p.get("vault", {}).get("sealed") is True
    deadline = time.time() + 60
    while not back_sealed():
        assert time.time() < deadline, "%s did not come back sealed" % pod
        time.sleep(0.2)


def steps(stderr):
    return [l for l in stderr.splitlines() if re.match(r"^\[\d+/\d+\] ", l)]


@pytest.mark.parametrize("replicas", [3, 5])
def test_shamir_to_transit_with_keys_file(make_fake, tmp_path, replicas):
    fake, keys = start(make_fake, "--replicas", str(replicas))
    tr = fake.control("transit", {"namespace": "vault"})
    base = base_config(fake, keys)
    set_config(fake, keys, base + transit(tr))
    before = leaders(fake)
    old = before[-1]
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Seal migration: Shamir -> transit" in r.stderr
    assert "Seal transit: %s answers from %s" % (tr["address"], old) in r.stderr
    standbys = ["vault-%d" % i for i in reversed(range(replicas)) if "vault-%d" % i != old]
    assert steps(r.stderr) == (
        ["[%d/%d] restart %s" % (i + 1, replicas + 1, p) for i, p in enumerate(standbys)] +
        ["[%d/%d] step down %s" % (replicas, replicas + 1, old),
         "[%d/%d] restart %s" % (replicas + 1, replicas + 1, old)])
    # each step says what it waited for and how long
    assert re.search(r"%s: back, seal transit, in \d+\.\d s" % standbys[0], r.stderr)
    assert re.search(r": migrated: seal transit, recovery seal shamir, migration done", r.stderr)
    assert "Seal migration complete: every pod of vault/vault runs seal transit." in r.stdout
    assert "%s came back unsealed by itself (seal transit)." % old in r.stdout
    assert "are now the recovery keys" in r.stdout
    # exactly one leader change, to a migrated standby
    after = leaders(fake)[len(before):]
    assert len(after) == 1 and after[0] != old
    # the pods were deleted (evicted) one at a time, standbys first, the old active last
    deleted = [c[1].rsplit("/", 1)[-1] for c in changes(fake) if "/pods/" in c[1]]
    assert deleted == standbys + [old]
    # the keys never went into an argv
    for e in fake.exec_log():
        for s in keys["unseal_keys_b64"] + [keys["root_token"]]:
            assert s not in json.dumps(e)
    # run again: nothing to do
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 0 and "No seal migration: every pod of vault/vault runs seal transit" \
        in r.stdout, r.stdout + r.stderr


def test_dry_run_changes_nothing_and_refusals(make_fake, tmp_path):
    fake, keys = start(make_fake)
    tr = fake.control("transit", {"namespace": "vault"})
    base = base_config(fake, keys)
    set_config(fake, keys, base + transit(tr))
    old = leaders(fake)[-1]
    r = migrate(fake, keys, "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Seal migration plan for vault/vault: Shamir -> transit" in r.stdout
    assert "Leader changes: 1 (%s steps down)" % old in r.stdout
    assert "Dry run: nothing was changed." in r.stdout
    assert changes(fake) == []
    # -o json
    r = migrate(fake, keys, "--dry-run", "-o", "json")
    doc = json.loads(r.stdout)
    assert doc["from"] == "shamir" and doc["to"] == "transit" and doc["leaderChanges"] == 1

    # the same helm upgrade changed the image: a deleted pod would come back upgraded
    r = fake.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p",
                     '{"spec":{"template":{"spec":{"containers":[{"name":"vault",'
                     '"image":"hashicorp/vault:1.21.3"}]}}}}')
    assert r.returncode == 0, r.stderr
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 1
    assert ("the pod template has image hashicorp/vault:1.21.3 but vault-0 runs "
            "hashicorp/vault:1.21.2, vault-1 runs hashicorp/vault:1.21.2, vault-2 runs "
            "hashicorp/vault:1.21.2: every pod the migration deletes would come back on the new "
            "image too. Do the upgrade first (kubectl vault-ha upgrade), then migrate-seal; or "
            "helm upgrade with the seal change alone") in r.stderr, r.stderr
    assert [c for c in changes(fake) if "/statefulsets/" not in c[1]] == []  # only the test's
    r = fake.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p",
                     '{"spec":{"template":{"spec":{"containers":[{"name":"vault",'
                     '"image":"hashicorp/vault:1.21.2"}]}}}}')
    assert r.returncode == 0, r.stderr
    # two enabled seals
    set_config(fake, keys, base + transit(tr) + 'seal "awskms" {\n  kms_key_id = "k"\n}\n')
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 1
    assert 'has 2 enabled seal stanzas ("transit" and "awskms")' in r.stderr
    # unreachable transit
    set_config(fake, keys, base + transit(tr))
    fake.control("transit", {"namespace": "vault", "available": False})
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 1
    assert "the transit seal at %s (mount transit/) cannot be reached from %s" % (
        tr["address"], old) in r.stderr and "connection refused" in r.stderr
    fake.control("transit", {"namespace": "vault", "available": True})
    # degraded cluster: a standby sealed (restarted before the seal change: Shamir, sealed;
    # the config is read when its container starts, so the change waits until it is back)
    set_config(fake, keys, base)
    standby = next(p for p in ("vault-2", "vault-1") if p != old)
    fake.kubectl("delete", "pod", standby, "-n", "vault", "--wait=false")
    wait_back_sealed(fake, standby)
    set_config(fake, keys, base + transit(tr))
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 1 and "the cluster is not healthy" in r.stderr, r.stderr
    assert [c for c in changes(fake) if c[0] != "DELETE" and "/statefulsets/" not in c[1]] == []


def test_transit_to_shamir_needs_the_disabled_stanza(make_fake, tmp_path):
    fake, keys = start(make_fake, "--vault-opt", "seal_type=transit")
    tr = fake.control("transit", {"namespace": "vault"})
    text = base_config(fake, keys)
    base = text[:text.index('seal "transit"')]
    # the stanza removed instead of disabled: refused, naming the missing line
    set_config(fake, keys, base)
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 1
    assert 'leaving the transit seal needs its stanza kept with `disabled = "true"`' in r.stderr
    assert changes(fake) == []
    set_config(fake, keys, base + transit(tr, disabled=True))
    before = leaders(fake)
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Seal migration: transit -> Shamir" in r.stderr
    assert "The old seal's keys: its recovery keys (3 of 5)." in r.stderr
    assert re.search(r": migrated: seal shamir, recovery seal none, migration done", r.stderr)
    assert "The recovery key shares (3 of 5) are now the unseal keys" in r.stdout
    assert 'Remove the disabled seal "transit" stanza in a follow-up helm upgrade' in r.stdout
    assert len(leaders(fake)) == len(before) + 1
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 0 and 'still has the disabled seal "transit" stanza' in r.stdout
    # doctor says the same about the stanza left behind
    r = run_plugin(["doctor", "-o", "json", "--check", "VHA-VER-004"],
                   kubeconfig=fake.kubeconfig, timeout=120)
    found = [(f["level"], f["message"], f.get("fix")) for f in json.loads(r.stdout)["findings"]]
    assert found == [("warn", 'the disabled seal "transit" stanza is still in the config although '
                      "every pod runs seal shamir: restarted pods come up sealed and need the "
                      "keys, and the old seal stays a start-up dependency",
                      'remove the disabled seal "transit" stanza (helm upgrade); the pods read it '
                      "when they next start")], found


def interrupted(fake, keys, tmp_path, at):
    """migrate-seal run, and Ctrl-C when a stderr line satisfies at: (exit code, stderr)."""
    import os
    import signal
    import subprocess
    from conftest import BIN
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
    env.update({"KUBECONFIG": fake.kubeconfig, "VAULT_TOKEN": keys["root_token"],
                "HOME": "/nonexistent"})
    p = subprocess.Popen([BIN, "migrate-seal", "--yes", "--keys-file", keys_file(tmp_path, keys)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in p.stderr:
        seen.append(line)
        if at(line):
            p.send_signal(signal.SIGINT)
            break
    out, err = p.communicate(timeout=300)
    return p.returncode, "".join(seen) + err


def test_interrupted_and_resumed(make_fake, tmp_path):
    fake, keys = start(make_fake)
    tr = fake.control("transit", {"namespace": "vault"})
    set_config(fake, keys, base_config(fake, keys) + transit(tr))
    before = leaders(fake)
    code, err = interrupted(fake, keys, tmp_path, lambda line: line.startswith("[2/4] "))
    assert code == 130, err
    assert "Nothing was written to storage yet" in err and "To roll back: put the old seal" in err
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 0, r.stdout + r.stderr
    # the pod migrated before the interruption is not restarted again
    assert re.search(r"Already on the new seal: vault-\d$", r.stdout, re.M), r.stdout
    assert steps(r.stderr)[0].startswith("[1/3] ")
    assert "Seal migration complete" in r.stdout
    assert len(leaders(fake)) == len(before) + 1


def test_resumed_after_the_step_down_to_transit_asks_no_keys(make_fake, tmp_path):
    """Interrupted after the step-down (the migration happened): the run that goes on restarts
    the old active pod, which unseals itself: no keys are asked (none given here)."""
    fake, keys = start(make_fake)
    tr = fake.control("transit", {"namespace": "vault"})
    set_config(fake, keys, base_config(fake, keys) + transit(tr))
    code, err = interrupted(fake, keys, tmp_path, lambda line: ": migrated: seal transit" in line)
    assert code == 130, err
    r = migrate(fake, keys, "--yes", input="")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No keys needed: the pods left unseal themselves (seal transit)." in r.stderr
    assert "The old seal's keys" not in r.stderr
    assert "Seal migration complete: every pod of vault/vault runs seal transit." in r.stdout


@pytest.mark.parametrize("source", ["env", "envFrom"])
def test_transit_token_in_the_pods_env(make_fake, tmp_path, source):
    """A transit token the pods inherit, named in the template's env or brought by envFrom (which
    the plugin cannot see into): no command the plugin runs in a pod sends it to Vault."""
    fake, keys = start(make_fake)
    tr = fake.control("transit", {"namespace": "vault"})
    if source == "env":
        fake.control("secret", {"namespace": "vault", "name": "transit-token",
                                "data": {"token": tr["token"]}})
        container = {"name": "vault", "env": [
            {"name": "VAULT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "transit-token",
                                                                   "key": "token"}}}]}
    else:
        fake.control("secret", {"namespace": "vault", "name": "transit-env",
                                "data": {"VAULT_TOKEN": tr["token"]}})
        container = {"name": "vault", "envFrom": [{"secretRef": {"name": "transit-env"}}]}
    patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
    r = fake.kubectl("patch", "statefulset", "vault", "-n", "vault", "--type", "strategic",
                     "-p", json.dumps(patch))
    assert r.returncode == 0, r.stderr
    set_config(fake, keys, base_config(fake, keys) + transit(tr, token=False))
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys), timeout=500)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("Note: the pods get VAULT_TOKEN from Secret transit-token" in r.stderr) == \
        (source == "env")
    # every pod runs with the token now; commands without one of their own, and with one
    for args in (["status"], ["doctor"], ["peers"]):
        r = run_plugin(["-n", "vault"] + args, kubeconfig=fake.kubeconfig, timeout=120,
                       env={"VAULT_TOKEN": keys["root_token"]})
        assert r.returncode in (0, 1, 2), r.stdout + r.stderr  # doctor: 2 = a warning
    assert "permission denied" not in r.stdout + r.stderr
    # the seal used the token (it encrypted), the cluster never saw it
    tr = fake.control("transit", {"namespace": "vault"})
    assert tr["encrypts"] > 0 and tr["leaked"] == 0, tr
    # every exec ran under `env -u VAULT_TOKEN` (the fake's log keeps what env ran)
    runs = fake.exec_log()
    assert runs and all(e["unset"] == ["VAULT_TOKEN"] for e in runs), \
        [e for e in runs if e["unset"] != ["VAULT_TOKEN"]]
    # (readings went through pods/proxy: no process; the transit probe and the unseals ran)
    assert any(e["command"][:2] == ["vault", "status"] for e in runs)
    assert ["vault", "write", "-format=json", "sys/unseal", "-"] in [e["command"] for e in runs]


def test_a_pod_that_crashes_is_named_with_its_log_line(make_fake, tmp_path):
    fake, keys = start(make_fake)
    tr = fake.control("transit", {"namespace": "vault"})
    bad = dict(tr, token="hvs.revoked")
    set_config(fake, keys, base_config(fake, keys) + transit(bad))
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys), "--timeout", "8s")
    assert r.returncode == 1
    assert re.search(r"vault-\d does not start \(CrashLoopBackOff\); its log ends with: "
                     r"error parsing Seal configuration: Error making API request\. URL: PUT "
                     r"http://vault-transit\.vault-transit\.svc:8200/v1/transit/encrypt/autounseal "
                     r"Code: 403\. Errors: \* permission denied$", r.stderr, re.M), r.stderr
    assert "To roll back: put the old seal stanza back" in r.stderr


def test_a_wrong_transit_mount_is_found_by_the_first_standby(make_fake, tmp_path):
    """The probe reaches the transit address but cannot check its mount, key or token (Vault
    answers 403 for any path without the seal's token): it says so, and the first restarted
    standby, which checks them as it starts, stops the migration, named with its log line."""
    fake, keys = start(make_fake)
    tr = fake.control("transit", {"namespace": "vault"})
    old = leaders(fake)[-1]
    set_config(fake, keys, base_config(fake, keys) + transit(dict(tr, mount="wrong")))
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys), "--timeout", "8s")
    assert r.returncode == 1, r.stdout + r.stderr
    assert ("Seal transit: %s answers from %s. Its mount (wrong/), key (%s) and token are not "
            "checked (without the seal's token Vault answers 403 for any path): the first "
            "standby restarted checks them as it starts, and stops the migration if it does not "
            "come back.") % (tr["address"], old, tr["key"]) in r.stderr
    first = steps(r.stderr)[0].split()[-1]
    assert steps(r.stderr) == ["[1/4] restart %s" % first], r.stderr
    assert re.search(r"^%s does not start \(CrashLoopBackOff\); its log ends with: error parsing "
                     r"Seal configuration: Error making API request\. URL: PUT "
                     r"http://vault-transit\.vault-transit\.svc:8200/v1/wrong/encrypt/%s "
                     r"Code: 400\. Errors: \* encryption key not found$" % (first, tr["key"]),
                     r.stderr, re.M), r.stderr
    assert "To roll back: put the old seal stanza back" in r.stderr


def test_openbao(make_fake, tmp_path):
    fake, keys = start(make_fake, "--openbao", "--namespace", "openbao", "--release", "openbao",
                       ns="openbao")
    tr = fake.control("transit", {"namespace": "openbao"})
    base = base_config(fake, keys)
    set_config(fake, keys, base + transit(tr) + transit(tr))
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 1 and "OpenBao refuses to start with them" in r.stderr
    set_config(fake, keys, base + transit(tr))
    r = migrate(fake, keys, "--yes", "--keys-file", keys_file(tmp_path, keys))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Seal migration complete: every pod of openbao/openbao runs seal transit." in r.stdout


def test_status_shows_the_seal_and_unseal_says_auto_seals_unseal_themselves(make_fake, tmp_path):
    fake, keys = start(make_fake, "--vault-opt", "seal_type=transit")
    r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig,
                   env={"VAULT_TOKEN": keys["root_token"]})
    pods = json.loads(r.stdout)["pods"]
    assert all(p["vault"]["seal"] == {"type": "transit", "recoverySeal": True,
                                      "recoverySealType": "shamir", "migration": False}
               for p in pods), pods
    r = run_plugin(["status", "-o", "wide"], kubeconfig=fake.kubeconfig,
                   env={"VAULT_TOKEN": keys["root_token"]})
    assert "SEAL" in r.stdout.splitlines()[2] and "transit, recovery shamir" in r.stdout
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig, env={"VAULT_TOKEN": keys["root_token"]})
    assert "transit" not in r.stdout.splitlines()[2]  # the default table stays narrow
    # a pod whose seal is unreachable stays sealed: keys would not help
    fake.control("seal", {"namespace": "vault", "available": False})
    fake.kubectl("delete", "pod", "vault-2", "-n", "vault", "--wait=false")

    def back_sealed():
        r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig)
        pod = [p for p in json.loads(r.stdout)["pods"] if p["name"] == "vault-2"][0]
        return pod["running"] and pod["vault"].get("sealed") is True
    deadline = time.time() + 60
    while not back_sealed():
        assert time.time() < deadline, "vault-2 did not come back sealed"
        time.sleep(0.2)
    r = run_plugin(["unseal", "--keys-file", keys_file(tmp_path, keys)],
                   kubeconfig=fake.kubeconfig, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("vault-2: seal transit: the pod unseals itself; recovery keys do not unseal it. If "
            "it stays sealed, its log says why (kubectl logs -n vault vault-2): the seal may be "
            "unreachable") in r.stderr
    assert "No sealed pod to unseal." not in r.stdout


def test_keys_from_the_prompt(make_fake, tmp_path):
    """On a terminal: the plan, the old keys asked once (hidden), the confirmation, then the
    migration; no key on the screen."""
    import os
    from test_interactive import Tmux, command_line
    fake, keys = start(make_fake)
    tr = fake.control("transit", {"namespace": "vault"})
    set_config(fake, keys, base_config(fake, keys) + transit(tr))
    token_file = tmp_path / "token"
    token_file.write_text(keys["root_token"] + "\n")
    os.chmod(token_file, 0o600)
    cmd = command_line(fake, ["migrate-seal", "--token-file", str(token_file)])
    t = Tmux(tmp_path, cmd + "; echo EXIT=$?; sleep 120")
    try:
        t.wait_for("The old seal's keys: the unseal keys (3 of 5).")
        for i in range(3):
            t.wait_for("Unseal key %d of 3 (will be hidden):" % (i + 1))
            t.send("-l", keys["unseal_keys_b64"][i])
            t.send("Enter")
        t.wait_for("Migrate the seal of vault/vault (Shamir -> transit): 4 steps, 1 leader "
                   "change? [y/N]")
        t.send("y", "Enter")
        screen = t.wait_for("EXIT=", timeout=300)
        assert "EXIT=0" in screen, screen
        assert "Seal migration complete: every pod of vault/vault runs seal transit." in screen
        for k in keys["unseal_keys_b64"] + keys["unseal_keys_hex"]:
            assert k[:12] not in screen
    finally:
        t.close()
    for e in fake.exec_log():
        for s in keys["unseal_keys_b64"] + [keys["root_token"]]:
            assert s not in json.dumps(e)


def test_doctor_checks_the_seal_config(make_fake, tmp_path):
    fake, keys = start(make_fake)
    tr = fake.control("transit", {"namespace": "vault"})
    fake.control("secret", {"namespace": "vault", "name": "transit-token",
                            "data": {"token": tr["token"]}})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "vault", "env": [
        {"name": "VAULT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "transit-token",
                                                               "key": "token"}}},
        {"name": "VAULT_SEAL_TYPE", "value": "awskms"}]}]}}}}
    r = fake.kubectl("patch", "statefulset", "vault", "-n", "vault", "--type", "strategic",
                     "-p", json.dumps(patch))
    assert r.returncode == 0, r.stderr
    r = run_plugin(["doctor", "-o", "json", "--check", "VHA-VER-004"],
                   kubeconfig=fake.kubeconfig, timeout=120)
    found = {(f["level"], f["message"], f.get("fix")) for f in json.loads(r.stdout)["findings"]}
    assert ("warn", "the pods get VAULT_TOKEN from Secret transit-token: every vault command run "
            "in them with `kubectl exec` inherits it (a privileged one without its own token "
            "gets 403; this plugin unsets it for its own commands)",
            "put the seal stanza with its token in a Secret mounted as an extra config file "
            "(server.volumes, server.volumeMounts, server.extraArgs "
            "-config=/vault/userconfig/<name>/seal.hcl) instead of VAULT_TOKEN") in found, found
    assert ("warn", "the StatefulSet sets VAULT_SEAL_TYPE=awskms: it overrides the seal "
            "stanza's type (shamir)",
            "remove VAULT_SEAL_TYPE from the pod env (server.extraEnvironmentVars)") in found
