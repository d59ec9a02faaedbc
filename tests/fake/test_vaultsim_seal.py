"""Seal migration in the fake (docs/seal-migration.md): the chart's ConfigMap read at
container start, the transit seal server, migration mode, `unseal -migrate` with the old
seal's keys, the migration on the node that becomes active, the start-up crashes of bad
configs, VAULT_TOKEN / VAULT_SEAL_TYPE in the pod env. Driven with the real kubectl."""
import base64
import json
import time

from harness import FakeCluster

FAST = ["--vault-opt", "preset=ha", "--vault-opt", "election_seconds=0.2-0.4",
        "--vault-opt", "stepdown_sleep_seconds=1", "--vault-opt", "stabilization_seconds=0.5"]


def wait_for(cond, what, timeout=30):
    # Each look runs the real kubectl once or twice (a quarter of a second of CPU each): look
    # twice a second, not ten times, or the looks outweigh what they wait for.
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.5)
    raise AssertionError("timed out waiting for " + what)


def vault(f, pod, *args, cli="vault"):
    return f.kubectl("exec", pod, "-n", f.ns, "--", cli, *args)


def status(f, pod, cli="vault"):
    r = vault(f, pod, "status", "-format=json", cli=cli)
    return json.loads(r.stdout) if r.stdout.strip() else None


def keys(f, release="vault"):
    with open("%s/vault/%s/%s/vault-init.json" % (f.state_dir, f.ns, release)) as fh:
        return json.load(fh)


def config(f, name="vault-config"):
    r = f.kubectl("get", "configmap", name, "-n", f.ns, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["data"]["extraconfig-from-values.hcl"]


def set_config(f, text, name="vault-config"):
    patch = json.dumps({"data": {"extraconfig-from-values.hcl": text}})
    r = f.kubectl("patch", "configmap", name, "-n", f.ns, "--type", "merge", "-p", patch)
    assert r.returncode == 0, r.stderr


def transit_stanza(tr, disabled=False, token=True):
    return ('seal "transit" {\n  address = "%s"\n%s  key_name = "%s"\n  mount_path = "%s/"\n%s}\n'
            % (tr["address"], '  token = "%s"\n' % tr["token"] if token else "", tr["key"],
               tr["mount"], '  disabled = "true"\n' if disabled else ""))


def active(f):
    return f.control("leaders", {"namespace": f.ns})["leaders"][-1]["pod"]


def restart(f, pod):
    assert f.kubectl("delete", "pod", pod, "-n", f.ns).returncode == 0
    return wait_for(lambda: status(f, pod) if "Running" in f.kubectl(
        "get", "pod", pod, "-n", f.ns, "-o", "jsonpath={.status.phase}").stdout else None,
        "%s back" % pod)


def step_down(f, pod, token):
    r = f.kubectl("exec", pod, "-n", f.ns, "-i", "--", "sh", "-c",
                  "read -r VAULT_TOKEN; export VAULT_TOKEN; exec vault operator step-down",
                  input=token + "\n")
    assert r.returncode == 0, r.stderr


def migrate(f, shares, old_leader, token):
    """The facts' §2.1 procedure: standbys one at a time, step-down, the old active last."""
    pods = ["vault-%d" % i for i in range(3)]
    for pod in pods:
        if pod == old_leader:
            continue
        st = restart(f, pod)
        assert st["sealed"] and st["migration"], st
        for k in shares[:3]:
            r = vault(f, pod, "operator", "unseal", "-migrate", k)
            assert r.returncode == 0, r.stderr
        wait_for(lambda: not status(f, pod)["sealed"], "%s unsealed" % pod)
    step_down(f, old_leader, token)
    wait_for(lambda: active(f) != old_leader, "a new leader")


def test_shamir_to_transit_and_back(tmp_path):
    with FakeCluster(tmp_path / "f", *FAST) as f:
        f.ns = "vault"
        tr = f.control("transit", {"namespace": f.ns})
        k = keys(f)
        shares, token = k["unseal_keys_b64"], k["root_token"]
        base = config(f)
        assert 'seal "' not in base
        set_config(f, base + transit_stanza(tr))
        old = active(f)
        # Editing the ConfigMap changes nothing until a pod restarts (§8.3).
        assert status(f, old)["type"] == "shamir"
        standby = next(p for p in ("vault-0", "vault-1", "vault-2") if p != old)
        st = restart(f, standby)
        assert st["type"] == "transit" and st["recovery_seal"] is True and st["sealed"]
        assert st["migration"] is True and st["recovery_seal_type"] == "shamir"
        assert (st["t"], st["n"]) == (3, 5)
        logs = f.kubectl("logs", standby, "-n", f.ns).stdout
        assert ("core: entering seal migration mode; Vault will not automatically unseal even if "
                "using an autoseal: from_barrier_type=shamir to_barrier_type=transit") in logs
        # §4.1: without -migrate, a 500 on the first key; -migrate on the active node, a 500.
        r = vault(f, standby, "operator", "unseal", shares[0])
        assert r.returncode == 2 and "Code: 500" in r.stderr and \
            "* migrate option not provided and seal migration is pending" in r.stderr
        r = vault(f, old, "operator", "unseal", "-migrate", shares[0])
        assert r.returncode == 2 and "* can't perform a seal migration, no migration seal found" in r.stderr
        # put it back and run the whole procedure
        migrate(f, shares, old, token)
        new = active(f)
        assert new != old
        st = status(f, new)
        assert st["type"] == "transit" and st["migration"] is False and not st["sealed"]
        assert "core: seal migration complete" in f.kubectl("logs", new, "-n", f.ns).stdout
        # The old active node still reports its in-memory Shamir seal (§3.1) ...
        assert status(f, old)["type"] == "shamir" and status(f, old)["migration"] is False
        # ... until it restarts: then it unseals itself with transit.
        st = restart(f, old)
        st = wait_for(lambda: (lambda s: s if not s["sealed"] else None)(status(f, old)),
                      "auto-unseal of %s" % old)
        assert st["type"] == "transit" and st["recovery_seal"] is True and not st["migration"]

        # transit -> Shamir: the old stanza disabled; the recovery keys are the old shares.
        set_config(f, base + transit_stanza(tr, disabled=True))
        old = active(f)
        standby = next(p for p in ("vault-0", "vault-1", "vault-2") if p != old)
        st = restart(f, standby)
        assert st["type"] == "shamir" and st["recovery_seal"] is False and st["migration"]
        assert "recovery_seal_type" not in st
        for key in [base64.b64encode(b"\x07" * 32 + bytes([x])).decode() for x in (1, 2, 3)]:
            r = vault(f, standby, "operator", "unseal", "-migrate", key)
        assert "* invalid key: failed to verify recovery key: recovery key does not match " \
               "submitted values" in r.stderr
        restart(f, standby)
        migrate(f, shares, old, token)
        new = active(f)
        st = status(f, new)
        assert st["type"] == "shamir" and not st["migration"]
        # A pod still with the disabled stanza never auto-unseals: it needs the keys (§2.1 6).
        st = restart(f, old)
        assert st["sealed"] and not st["migration"] and st["type"] == "shamir"
        for key in shares[:3]:
            vault(f, old, "operator", "unseal", key)
        wait_for(lambda: not status(f, old)["sealed"], "plain unseal after the migration")


def test_bad_configs_crash_at_start_with_their_line(tmp_path):
    with FakeCluster(tmp_path / "f", *FAST) as f:
        f.ns = "vault"
        tr = f.control("transit", {"namespace": f.ns})
        base = config(f)

        def crash(text, line):
            set_config(f, text)
            f.kubectl("delete", "pod", "vault-2", "-n", f.ns)
            wait_for(lambda: "CrashLoopBackOff" in f.kubectl(
                "get", "pod", "vault-2", "-n", f.ns, "-o", "json").stdout, "the crash")
            assert line in f.kubectl("logs", "vault-2", "-n", f.ns).stdout
            r = vault(f, "vault-2", "status")
            assert r.returncode != 0

        two = base + transit_stanza(tr) + 'seal "awskms" {\n  kms_key_id = "k"\n}\n'
        crash(two, "error: more than one enabled seal found")
        crash(base + 'seal "shamir" {\n  disabled = "true"\n}\n',
              "shamir seals cannot be set disabled (they should simply not be set)")
        f.control("transit", {"namespace": f.ns, "available": False})
        crash(base + transit_stanza(tr),
              'error parsing Seal configuration: Put "%s/v1/transit/encrypt/autounseal": dial tcp '
              '10.96.77.' % tr["address"])
        # a CLI in a pod cannot connect either
        r = vault(f, "vault-0", "status", "-address=" + tr["address"])
        assert r.returncode == 1 and "connect: connection refused" in r.stderr
        f.control("transit", {"namespace": f.ns, "available": True})
        # The token from the pod's VAULT_TOKEN (extraSecretEnvironmentVars) works for the seal,
        # and every exec'd vault inherits it.
        f.control("secret", {"namespace": f.ns, "name": "transit-token", "data": {"token": tr["token"]}})
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "vault", "env": [
            {"name": "VAULT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "transit-token",
                                                                   "key": "token"}}}]}]}}}}
        r = f.kubectl("patch", "statefulset", "vault", "-n", f.ns, "--type", "strategic",
                      "-p", json.dumps(patch))
        assert r.returncode == 0, r.stderr
        def observed():  # the controller has seen the patch (status lags by CONTROLLER_SECONDS)
            r = f.kubectl("get", "statefulset", "vault", "-n", f.ns, "-o", "json")
            sts = json.loads(r.stdout)
            return sts["status"].get("observedGeneration") == sts["metadata"]["generation"]
        wait_for(observed, "the StatefulSet controller to observe the env patch")
        set_config(f, base + transit_stanza(tr, token=False))
        st = restart(f, "vault-2")
        assert st["migration"] and st["type"] == "transit"
        r = f.kubectl("exec", "vault-2", "-n", f.ns, "--", "sh", "-c", 'echo "$VAULT_TOKEN"')
        assert r.stdout.strip() == tr["token"]
        # revoked transit token: the next start crashes with the 403
        f.control("transit", {"namespace": f.ns, "token": "hvs.other"})
        f.kubectl("delete", "pod", "vault-2", "-n", f.ns)
        wait_for(lambda: "Code: 403" in f.kubectl("logs", "vault-2", "-n", f.ns).stdout, "403 crash")


def test_auto_to_shamir_without_disabled_stanza_and_seal_type_override(tmp_path):
    opts = FAST + ["--vault-opt", "seal_type=transit"]
    with FakeCluster(tmp_path / "f", *opts) as f:
        f.ns = "vault"
        tr = f.control("transit", {"namespace": f.ns})
        text = config(f)
        assert 'seal "transit"' in text and tr["token"] in text
        base = text[:text.index('seal "transit"')]
        set_config(f, base)
        f.kubectl("delete", "pod", "vault-1", "-n", f.ns)
        wait_for(lambda: 'Error initializing core: cannot seal migrate from "transit" to Shamir, '
                 'no disabled seal in configuration' in f.kubectl("logs", "vault-1", "-n", f.ns).stdout,
                 "the crash line")
        # Back to the original config: the pod unseals itself again.
        set_config(f, text)
        restart(f, "vault-1")
        wait_for(lambda: not status(f, "vault-1")["sealed"], "auto-unseal")


def test_openbao_two_enabled_seals_and_migration(tmp_path):
    with FakeCluster(tmp_path / "f", "--openbao", "--namespace", "openbao", "--release", "openbao", *FAST) as f:
        f.ns = "openbao"
        tr = f.control("transit", {"namespace": f.ns})
        if True:
            base = config(f, "openbao-config")
            # OrderedReady: openbao-2 is created once the others are Ready
            wait_for(lambda: (status(f, "openbao-2", cli="bao") or {}).get("sealed") is False,
                     "openbao-2 created and unsealed")
            set_config(f, base + transit_stanza(tr) + transit_stanza(tr), name="openbao-config")
            f.kubectl("delete", "pod", "openbao-2", "-n", f.ns)
            wait_for(lambda: "seals: two seals provided but neither is disabled" in
                     f.kubectl("logs", "openbao-2", "-n", f.ns).stdout, "OpenBao's line")
            set_config(f, base + transit_stanza(tr), name="openbao-config")
            f.kubectl("delete", "pod", "openbao-2", "-n", f.ns)
            st = wait_for(lambda: status(f, "openbao-2", cli="bao"), "openbao-2 back")
            assert st["type"] == "transit" and st["migration"] is True


def test_the_config_is_read_when_the_container_starts(tmp_path):
    """A pod deleted, then the ConfigMap changed before its new container starts: it starts
    with the new content (the chart copies the config at container start, §8.3). An envFrom
    Secret reaches the container env too."""
    # 15 s from the delete to the new container: the ConfigMap change lands well within it,
    # even on a busy machine (4 s did not, once).
    with FakeCluster(tmp_path / "f", *FAST, "--restart-seconds", "15") as f:
        f.ns = "vault"
        tr = f.control("transit", {"namespace": f.ns})
        base = config(f)
        f.control("secret", {"namespace": f.ns, "name": "transit-env",
                             "data": {"VAULT_TOKEN": tr["token"]}})
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "vault", "envFrom": [
            {"secretRef": {"name": "transit-env"}}]}]}}}}
        r = f.kubectl("patch", "statefulset", "vault", "-n", f.ns, "--type", "strategic",
                      "-p", json.dumps(patch))
        assert r.returncode == 0, r.stderr

        def observed():  # the controller has seen the patch (status lags by CONTROLLER_SECONDS)
            sts = json.loads(f.kubectl("get", "statefulset", "vault", "-n", f.ns, "-o",
                                       "json").stdout)
            return sts["status"].get("observedGeneration") == sts["metadata"]["generation"]
        wait_for(observed, "the StatefulSet controller to observe the envFrom patch")
        assert f.kubectl("delete", "pod", "vault-2", "-n", f.ns, "--wait=false").returncode == 0
        set_config(f, base + transit_stanza(tr, token=False))
        # the new pod's container runs (not the old pod, terminating)
        st = wait_for(lambda: status(f, "vault-2") if f.kubectl(
            "get", "pod", "vault-2", "-n", f.ns, "-o",
            "jsonpath={.status.phase}{.metadata.deletionTimestamp}").stdout == "Running"
            else None, "vault-2 back", timeout=120)
        # the token came from envFrom; the config from the ConfigMap as it was at the start
        assert st["sealed"] and st["migration"] and st["type"] == "transit", json.dumps(st)
        r = f.kubectl("exec", "vault-2", "-n", f.ns, "--", "sh", "-c", 'echo "$VAULT_TOKEN"')
        assert r.stdout.strip() == tr["token"]
