"""Key ceremonies (issue 20): rekey and generate-root with key holders in separate processes,
rotate. The ceremony lives in the active node's memory (docs/ceremonies.md §1.3): each plugin
run reads it back; shares, the OTP and the token travel on the exec's stdin only."""
import base64
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import BIN, run_plugin, write_private

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fake"))
from vaultsim import pgp  # noqa: E402
from vaultsim.testing import wait_for  # noqa: E402

FAST = ("--vault-opt", "election_seconds=0.3-0.6", "--vault-opt", "preset=ha")


def cluster(make_fake, tmp_path, *extra, name="fake"):
    fake = make_fake(*(FAST + extra), name=name)
    init = json.load(open(os.path.join(fake.state_dir, "vault", "vault", "vault", "vault-init.json")))
    holders = [write_private(tmp_path / ("%s-holder%d" % (name, i)), k + "\n")
               for i, k in enumerate(init["unseal_keys_b64"])]
    return fake, init, holders


def vh(fake, *args, env=None, input=None):
    return run_plugin(list(args), kubeconfig=fake.kubeconfig, env=env, input=input, timeout=120)


def rekey_status(fake, env=None):
    r = vh(fake, "rekey", "status", "-o", "json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def active_pod(fake):
    r = vh(fake, "status", "-o", "json")
    doc = json.loads(r.stdout)
    for p in doc["pods"]:
        if (p.get("vault") or {}).get("role") == "active":
            return p["name"]
    return None


def step_down_vault0(fake, tmp_path, init):
    """vault-0 (active) steps down; returns the pod active after it."""
    root = write_private(tmp_path / "root", init["root_token"] + "\n")
    r = vh(fake, "step-down", "--token-file", root)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: active_pod(fake) not in (None, "vault-0"), 60, what="another active pod")
    return active_pod(fake)


def corrupt(share_b64):
    """Another holder's share with a wrong value: well-formed, wrong at the threshold."""
    raw = bytearray(base64.b64decode(share_b64))
    raw[0] ^= 0x5A
    return base64.b64encode(bytes(raw)).decode()


def secrets_in_argv(fake, secrets):
    return [e["command"] for e in fake.exec_log()
            if any(s and s in " ".join(e["command"]) for s in secrets)]


def test_rekey_by_three_holders_old_shares_refused_new_ones_unseal(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path)
    r = vh(fake, "rekey", "start", "--shares", "3", "--threshold", "2")
    assert r.returncode == 0, r.stderr
    nonce = rekey_status(fake)["nonce"]
    assert r.stdout == (
        "Rekey started on vault-0: nonce %s.\nNew shares: 3, threshold 2.\n"
        "3 current key holders must each submit their share (the nonce is not a secret; share it):\n"
        "  kubectl vault-ha rekey submit --nonce %s\n" % (nonce, nonce))
    # A second start is refused and shows the one in progress.
    r = vh(fake, "rekey", "start")
    assert r.returncode == 1
    assert r.stderr == ("kubectl vault-ha: a rekey is already in progress: finish it or "
                        "`kubectl vault-ha rekey cancel`\n")
    assert "nonce:      %s" % nonce in r.stdout
    # Three holders, three separate processes, each with their own share.
    r = vh(fake, "rekey", "submit", "--keys-file", holders[0], "--nonce", nonce)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("Rekey on vault-0, nonce %s: 0 of 3 shares given so far.\nShare accepted: 1/3.\n"
                        % nonce)
    assert r.stdout == ("Rekey %s: 1/3 shares given. Next key holder: `kubectl vault-ha rekey submit "
                        "--nonce %s`\n" % (nonce, nonce))
    r = vh(fake, "rekey", "submit", "--keys-file", holders[1], "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["progress"] == 2
    out = tmp_path / "new-shares.json"
    r = vh(fake, "rekey", "submit", "--keys-file", holders[2], "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("Rekey complete on vault-0: 3 new shares, threshold 2, written to %s (mode 0600).\n"
                        "The new shares are active now: the old ones no longer unseal.\n" % out)
    assert os.stat(out).st_mode & 0o777 == 0o600
    new = json.loads(out.read_text())
    assert list(new) == ["unseal_keys_b64", "unseal_keys_hex", "unseal_shares", "unseal_threshold", "nonce"]
    assert new["unseal_shares"] == 3 and new["unseal_threshold"] == 2 and new["nonce"] == nonce
    assert rekey_status(fake)["started"] is False
    # The old shares no longer unseal a restarted pod; the new ones do.
    assert fake.kubectl("delete", "pod", "vault-2", "-n", "vault").returncode == 0
    old_file = write_private(tmp_path / "old", "\n".join(init["unseal_keys_b64"][:2]) + "\n")
    r = vh(fake, "unseal", "vault-2", "--keys-file", old_file)
    assert r.returncode != 0
    assert "vault-2" in r.stderr and "wrong" in r.stderr.lower(), r.stderr
    new_file = write_private(tmp_path / "new", "\n".join(new["unseal_keys_b64"][:2]) + "\n")
    r = vh(fake, "unseal", "vault-2", "--keys-file", new_file)
    assert r.returncode == 0, r.stderr
    secrets = init["unseal_keys_b64"] + init["unseal_keys_hex"] + new["unseal_keys_b64"] + \
        new["unseal_keys_hex"] + [init["root_token"]]
    assert secrets_in_argv(fake, secrets) == []


def test_rekey_duplicate_and_wrong_share(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path)
    assert vh(fake, "rekey", "start", "--shares", "3", "--threshold", "2").returncode == 0
    nonce = rekey_status(fake)["nonce"]
    assert vh(fake, "rekey", "submit", "--keys-file", holders[0]).returncode == 0
    r = vh(fake, "rekey", "submit", "--keys-file", holders[0])
    assert r.returncode == 1
    assert r.stderr.endswith(
        "kubectl vault-ha: this share was already submitted in this rekey: the progress did not change; "
        "another key holder must submit theirs\n"), r.stderr
    assert vh(fake, "rekey", "submit", "--keys-file", holders[1]).returncode == 0
    wrong = write_private(tmp_path / "wrong", corrupt(init["unseal_keys_b64"][2]) + "\n")
    # The last share with stdout a pipe and no --output: refused before anything is sent.
    r = vh(fake, "rekey", "submit", "--keys-file", wrong)
    assert r.returncode == 1
    assert r.stderr.endswith("kubectl vault-ha: standard output is not a terminal: the new unseal key "
                             "shares would be shown there; give --output FILE (0600) instead\n"), r.stderr
    assert rekey_status(fake)["progress"] == 2
    r = vh(fake, "rekey", "submit", "--keys-file", wrong, "--output", str(tmp_path / "never.json"))
    assert not os.path.exists(tmp_path / "never.json")
    assert r.returncode == 1
    assert r.stderr.endswith(
        "kubectl vault-ha: the shares given did not combine into the key: at least one is wrong. Vault set "
        "the progress back to 0; the rekey stays open with the same nonce, and every key holder must "
        "submit again\n"), r.stderr
    st = rekey_status(fake)
    assert st["progress"] == 0 and st["nonce"] == nonce
    r = vh(fake, "rekey", "cancel")
    assert r.returncode == 0 and r.stdout == (
        "Rekey %s cancelled on vault-0: the current shares stay valid.\n" % nonce)
    assert rekey_status(fake)["started"] is False
    r = vh(fake, "rekey", "submit", "--keys-file", holders[0])
    assert r.returncode == 1
    assert re.fullmatch(
        r"kubectl vault-ha: no rekey is in progress on vault-0: the last one \(started at \d{4}-\d\d-\d\d \d\d:\d\d UTC, "
        r"nonce %s\) was completed or cancelled, or vault-0 lost the leadership and got it back \(a "
        r"step-down or a seal discards a rekey in progress\)\n" % nonce, r.stderr), r.stderr


def rekey_until_verification(fake, tmp_path, holders):
    """A --verify rekey (3 shares, threshold 2) with every old share in; the last answer and the file."""
    assert vh(fake, "rekey", "start", "--shares", "3", "--threshold", "2", "--verify").returncode == 0
    out = tmp_path / "new.json"
    for i, h in enumerate(holders[:3]):
        r = vh(fake, "rekey", "submit", "--keys-file", h, *(("--output", str(out)) if i == 2 else ()))
        assert r.returncode == 0, r.stderr
    return out, r


def test_rekey_verify_by_new_holders(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path)
    out, r = rekey_until_verification(fake, tmp_path, holders)
    vnonce = rekey_status(fake)["verification_nonce"]
    assert ("Nothing is active yet: each new key holder proves their new share with `kubectl vault-ha "
            "rekey verify` (verification nonce %s); the old shares stay valid until 2 of them have.\n"
            % vnonce) in r.stdout
    r = vh(fake, "rekey", "submit", "--keys-file", holders[3])
    assert r.returncode == 1 and "the new holders must now verify their new shares" in r.stderr
    new = json.loads(out.read_text())["unseal_keys_b64"]
    n0 = write_private(tmp_path / "n0", new[0] + "\n")
    n1 = write_private(tmp_path / "n1", new[1] + "\n")
    r = vh(fake, "rekey", "verify", "--keys-file", n0)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "New share verified: 1/2. Next new key holder: `kubectl vault-ha rekey verify`\n"
    r = vh(fake, "rekey", "verify", "--keys-file", n1)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("Rekey verified on vault-0: the new shares are active now; the old ones no "
                        "longer unseal.\n")
    assert rekey_status(fake)["started"] is False
    assert secrets_in_argv(fake, init["unseal_keys_b64"] + new) == []


def test_rekey_pgp_encrypted_new_shares(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path)
    privs, files = [], []
    for i in range(2):
        pub, priv = pgp.make_test_key(bits=1024)
        (tmp_path / ("k%d.pub" % i)).write_bytes(pub)
        files.append(str(tmp_path / ("k%d.pub" % i)))
        privs.append(priv)
    r = vh(fake, "rekey", "start", "--shares", "3", "--threshold", "2", "--pgp-keys", ",".join(files))
    assert r.returncode == 64 and "--pgp-keys names 2 keys but --shares is 3" in r.stderr
    r = vh(fake, "rekey", "start", "--shares", "2", "--threshold", "2", "--pgp-keys", ",".join(files),
           "--backup")
    assert r.returncode == 0, r.stderr
    assert "New shares: 2, threshold 2, PGP-encrypted.\n" in r.stdout
    out = tmp_path / "new.json"
    for i, h in enumerate(holders[:3]):
        r = vh(fake, "rekey", "submit", "--keys-file", h, *(("--output", str(out), "-o", "json") if i == 2 else ()))
        assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"pod": "vault-0", "complete": True, "output": str(out), "new_shares": 2,
                                    "new_threshold": 2, "verification_required": False,
                                    "verification_nonce": ""}
    doc = json.loads(out.read_text())
    assert len(doc["pgp_fingerprints"]) == 2 and doc["backup"] is True
    plain = [pgp.decrypt(p, base64.b64decode(k)).decode() for p, k in zip(privs, doc["unseal_keys_b64"])]
    assert fake.kubectl("delete", "pod", "vault-1", "-n", "vault").returncode == 0
    r = vh(fake, "unseal", "vault-1", "--keys-file", write_private(tmp_path / "dec", "\n".join(plain) + "\n"))
    assert r.returncode == 0, r.stderr
    # The key files were copied into a private directory in the pod's /tmp for the CLI, read
    # back before the rekey started, and removed with the directory after.
    cmds = [e["command"] for e in fake.exec_log()]
    assert any(c[:2] == ["sh", "-c"] and "sha256sum" in c[2] for c in cmds)
    assert any(c[:3] == ["rm", "-rf", "--"] and c[3].startswith("/tmp/vault-ha-init.") for c in cmds)
    assert secrets_in_argv(fake, init["unseal_keys_b64"] + plain + doc["unseal_keys_b64"]) == []


def test_leader_change_mid_rekey_is_explained(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path)
    assert vh(fake, "rekey", "start").returncode == 0
    nonce = rekey_status(fake)["nonce"]
    assert vh(fake, "rekey", "submit", "--keys-file", holders[0], "--nonce", nonce).returncode == 0
    now = step_down_vault0(fake, tmp_path, init)
    r = vh(fake, "rekey", "submit", "--keys-file", holders[1], "--nonce", nonce)
    assert r.returncode == 1
    assert re.fullmatch(
        r"kubectl vault-ha: the rekey started at \d{4}-\d\d-\d\d \d\d:\d\d UTC on vault-0 \(nonce %s\) was lost: vault-0, "
        r"which held it in memory, is no longer the active node \(%s is now\): a step-down or a leader "
        r"change discards a rekey in progress\n"
        r"kubectl vault-ha: no rekey is in progress now: it must be started again \(`kubectl vault-ha "
        r"rekey start`\) and every key holder must submit again\n" % (nonce, now), r.stderr), r.stderr


def test_generate_root_by_two_holders_then_decode_alone(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path, "--vault-opt", "preset_threshold=2")
    otp = tmp_path / "otp.txt"
    r = vh(fake, "generate-root", "start", "--otp-file", str(otp))
    assert r.returncode == 0, r.stderr
    assert os.stat(otp).st_mode & 0o777 == 0o600 and len(otp.read_text().strip()) == 28
    nonce = re.search(r"nonce ([0-9a-f-]+)\.", r.stdout).group(1)
    r = vh(fake, "generate-root", "start", "--otp-file", str(tmp_path / "otp2"))
    assert r.returncode == 1 and "already in progress" in r.stderr
    assert not os.path.exists(tmp_path / "otp2")
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[0], "--nonce", nonce)
    assert r.returncode == 0, r.stderr
    assert "1/2 shares given" in r.stdout
    token_file = tmp_path / "root.token"
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[1], "--otp-file", str(otp),
           "--output", str(token_file))
    assert r.returncode == 0, r.stderr
    token = token_file.read_text().strip()
    assert token.startswith("hvs.") and token != init["root_token"]
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    r = vh(fake, "peers", "--token-file", str(token_file))
    assert r.returncode == 0, r.stderr
    r = vh(fake, "generate-root", "status", "-o", "json")
    assert json.loads(r.stdout) == {"pod": "vault-0", "started": False, "nonce": "", "progress": 0,
                                    "required": 2, "complete": False, "pgp_fingerprint": ""}
    assert vh(fake, "generate-root", "start", "--otp-file", str(tmp_path / "otp-x")).returncode == 0
    r = vh(fake, "generate-root", "cancel")
    assert r.returncode == 0 and re.fullmatch(r"Root generation [0-9a-f-]+ cancelled on vault-0\.\n", r.stdout)
    assert json.loads(vh(fake, "generate-root", "status", "-o", "json").stdout)["started"] is False
    # A second generation decoded alone, later, with no cluster at all.
    otp2 = tmp_path / "otp3"
    assert vh(fake, "generate-root", "start", "--otp-file", str(otp2)).returncode == 0
    assert vh(fake, "generate-root", "submit", "--keys-file", holders[0]).returncode == 0
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[1], "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["complete"] is True and doc["pod"] == "vault-0"
    encoded = doc["encoded_token"]
    r = run_plugin(["generate-root", "decode", "--otp-file", str(otp2), encoded,
                    "--output", str(tmp_path / "t2")], kubeconfig=tmp_path / "no-such-kubeconfig")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t2").read_text().strip().startswith("hvs.")
    # -o json on a terminal: the token in a JSON document, shown once (plugin's own escaping).
    master, slave = os.openpty()
    p = subprocess.Popen([BIN, "-o", "json", "generate-root", "decode", "--otp-file", str(otp2),
                          encoded], stdout=slave, stderr=subprocess.PIPE,
                         env=dict(os.environ, KUBECONFIG=str(tmp_path / "no-such-kubeconfig")))
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    assert p.wait(timeout=60) == 0, p.stderr.read()
    os.close(master)
    assert json.loads(shown.decode().replace("\r\n", "\n")) == {
        "pod": "", "complete": True, "token": (tmp_path / "t2").read_text().strip()}
    secrets = init["unseal_keys_b64"] + [token, otp.read_text().strip(), otp2.read_text().strip()]
    assert secrets_in_argv(fake, secrets) == []


def refused_without_a_token(pod, what, kind, family):
    """What Vault 2.x without a token and without the opt-out gets (docs/ceremonies.md §1.6)."""
    return ("kubectl vault-ha: %s on %s failed: permission denied\n"
            "kubectl vault-ha: Vault 2.0.4 refused the %s without a token: set VAULT_TOKEN or use "
            "--token-file FILE. With no token at all, add enable_unauthenticated_access = [\"%s\"] "
            "to the Vault server configuration and make every Vault pod read it (with the Helm "
            "chart: in the server config values, then restart the pods; a SIGHUP re-reads only "
            "the copy made at container start), run the %s, then remove it the same way\n"
            % (what, pod, kind, family, kind))


def test_vault2_without_a_token_then_with_one(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path, "--vault-version", "2.0.4",
                                  "--vault-opt", "preset_threshold=2",
                                  "--vault-opt", "ceremony_tokens=s.statusonly=sys/generate-root/*:read")
    r = vh(fake, "rekey", "status")
    assert r.returncode == 1
    assert r.stderr == refused_without_a_token("vault-0", "reading the rekey status", "rekey", "rekey")
    otp = tmp_path / "otp"
    r = vh(fake, "generate-root", "start", "--otp-file", str(otp))
    assert r.returncode == 1 and not otp.exists()
    assert r.stderr == refused_without_a_token("vault-0", "reading the root generation status",
                                               "root generation", "generate-root")
    # A token that may read the status but not start: the policy hint names every verb.
    r = vh(fake, "generate-root", "start", "--otp-file", str(otp), env={"VAULT_TOKEN": "s.statusonly"})
    assert r.returncode == 1
    assert r.stderr == ("kubectl vault-ha: starting the root generation on vault-0 failed: permission denied\n"
                        "kubectl vault-ha: Vault refused the token: the root generation needs a token whose "
                        "policy grants read (status), update (start, submit) and delete (cancel) on "
                        "sys/generate-root/* (a root token has them)\n"), r.stderr
    # Generate-root on 2.x with a token, by two holders.
    env = {"VAULT_TOKEN": init["root_token"]}
    otp = tmp_path / "otp2"
    assert vh(fake, "generate-root", "start", "--otp-file", str(otp), env=env).returncode == 0
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[0], env=env)
    assert r.returncode == 0 and "1/2 shares given" in r.stdout, r.stderr
    token_file = tmp_path / "gen.token"
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[1], "--otp-file", str(otp),
           "--output", str(token_file), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("Root generation complete on vault-0.\nThe new root token is in %s (mode 0600). "
                        "Revoke it once the emergency is over.\n" % token_file)
    token = token_file.read_text().strip()
    assert token.startswith("hvs.") and token != init["root_token"]
    assert vh(fake, "peers", "--token-file", str(token_file)).returncode == 0
    r = vh(fake, "rekey", "start", "--shares", "1", "--threshold", "1", env=env)
    assert r.returncode == 0, r.stderr
    r = vh(fake, "rekey", "submit", "--keys-file", holders[0], env=env)
    assert r.returncode == 0, r.stderr
    r = vh(fake, "rekey", "status", env={"VAULT_TOKEN": "hvs.notavalidtokenatallxxxxx"})
    assert r.returncode == 1 and "Vault refused the token" in r.stderr
    secrets = [init["root_token"], token, otp.read_text().strip()] + init["unseal_keys_b64"]
    assert secrets_in_argv(fake, secrets) == []


def test_vault2_generate_root_with_no_token_at_all_under_the_opt_out(make_fake, tmp_path):
    """docs/ceremonies.md §1.6: with every token lost, enable_unauthenticated_access =
    ["generate-root"] in the server configuration lets two holders make a root token with no
    token at all; rekey, not listed, still needs one."""
    fake, init, holders = cluster(make_fake, tmp_path, "--vault-version", "2.0.4",
                                  "--vault-opt", "preset_threshold=2",
                                  "--vault-opt", "enable_unauthenticated_access=generate-root")
    cm = json.loads(fake.kubectl("get", "configmap", "vault-config", "-n", "vault", "-o", "json").stdout)
    assert 'enable_unauthenticated_access = ["generate-root"]\n' in cm["data"]["extraconfig-from-values.hcl"]
    otp = tmp_path / "otp"
    r = vh(fake, "generate-root", "start", "--otp-file", str(otp))
    assert r.returncode == 0, r.stderr
    nonce = re.search(r"nonce ([0-9a-f-]+)\.", r.stdout).group(1)
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[0], "--nonce", nonce)
    assert r.returncode == 0, r.stderr
    token_file = tmp_path / "root.token"
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[1], "--nonce", nonce, "--otp-file",
           str(otp), "--output", str(token_file))
    assert r.returncode == 0, r.stderr
    token = token_file.read_text().strip()
    assert token.startswith("hvs.") and token != init["root_token"]
    assert vh(fake, "peers", "--token-file", str(token_file)).returncode == 0
    r = vh(fake, "rekey", "status")
    assert r.returncode == 1
    assert r.stderr == refused_without_a_token("vault-0", "reading the rekey status", "rekey", "rekey")
    assert secrets_in_argv(fake, [init["root_token"], token, otp.read_text().strip()] +
                           init["unseal_keys_b64"]) == []


def test_openbao_rotate_keys(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path, "--openbao")
    env = {"BAO_TOKEN": init["root_token"]}
    r = vh(fake, "rekey", "start", "--shares", "1", "--threshold", "1", env=env)
    assert r.returncode == 0, r.stderr
    r = vh(fake, "rekey", "submit", "--keys-file", holders[0], env=env)
    assert r.returncode == 0, r.stderr
    assert "1/3 shares given" in r.stdout
    assert any("rotate-keys" in e["command"] for e in fake.exec_log())
    assert any("sys/rotate/root/update" in e["command"] for e in fake.exec_log())
    r = vh(fake, "rekey", "cancel", env=env)
    assert r.returncode == 0, r.stderr
    otp = tmp_path / "otp"
    r = vh(fake, "generate-root", "start", "--otp-file", str(otp), env=env)
    assert r.returncode == 0, r.stderr
    assert len(otp.read_text().strip()) == 26          # s. + 24 in this OpenBao
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[0], env=env)
    assert r.returncode == 0 and "1/3 shares given" in r.stdout, r.stderr
    assert any("sys/generate-root-token/update" in e["command"] for e in fake.exec_log())
    # Two more holders complete it; the last one holds the OTP: the new token works.
    assert vh(fake, "generate-root", "submit", "--keys-file", holders[1], env=env).returncode == 0
    token_file = tmp_path / "bao-root.token"
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[2], "--otp-file", str(otp),
           "--output", str(token_file), env=env)
    assert r.returncode == 0, r.stderr
    new_token = token_file.read_text().strip()
    assert new_token.startswith("s.") and new_token != init["root_token"], new_token
    r = vh(fake, "peers", "--token-file", str(token_file))
    assert r.returncode == 0, r.stderr
    r = vh(fake, "rekey", "status", env={"BAO_TOKEN": "s.notavalidtokenatallxxxxxxx"})
    assert r.returncode == 1
    assert r.stderr.endswith("kubectl vault-ha: Vault refused the token: the rekey needs a token whose "
                             "policy grants read (status), update (start, submit) and delete (cancel) on "
                             "sys/rotate/root/* (a root token has them)\n"), r.stderr
    assert secrets_in_argv(fake, [init["root_token"], otp.read_text().strip(), new_token] +
                           init["unseal_keys_b64"]) == []


def test_rotate_shows_terms_and_the_missing_permission(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path, "--vault-opt",
                                  "ceremony_tokens=s.rotonly=sys/rotate:update+sudo;"
                                  "s.readonly=sys/key-status:read")
    r = vh(fake, "rotate", "-o", "json", env={"VAULT_TOKEN": init["root_token"]})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["term"] == doc["term_before"] + 1
    r = vh(fake, "rotate", env={"VAULT_TOKEN": "s.rotonly"})
    assert r.returncode == 1
    assert r.stderr.endswith("kubectl vault-ha: the token lacks read on sys/key-status; nothing was "
                             "rotated\n"), r.stderr
    r = vh(fake, "rotate", env={"VAULT_TOKEN": "s.readonly"})
    assert r.returncode == 1
    assert r.stderr.endswith("kubectl vault-ha: the token lacks update and sudo on sys/rotate; nothing "
                             "was rotated (key term %d)\n" % doc["term"]), r.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by make deps")
def test_rekey_share_at_the_hidden_prompt(make_fake, tmp_path):
    from test_interactive import Tmux
    import shlex
    fake, init, holders = cluster(make_fake, tmp_path)
    assert vh(fake, "rekey", "start").returncode == 0
    cmd = "env -u NO_COLOR HOME=/nonexistent KUBECONFIG=%s %s rekey submit; echo EXIT=$?; sleep 60" % (
        shlex.quote(str(fake.kubeconfig)), shlex.quote(BIN))
    t = Tmux(tmp_path, cmd)
    try:
        t.wait_for("Unseal key 1 of 3 (empty line: submit the keys given so far):")
        t.send("-l", init["unseal_keys_b64"][0])
        t.send("Enter")
        t.wait_for("Unseal key 2 of 3")
        t.send("Enter")
        screen = t.wait_for("EXIT=")
        assert "EXIT=0" in screen and "1/3 shares given" in screen, screen
        assert init["unseal_keys_b64"][0][:12] not in screen
    finally:
        t.close()
    assert rekey_status(fake)["progress"] == 1


def test_rekey_replaced_and_unknown_nonce_and_the_start_warning(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path)
    r = vh(fake, "rekey", "start", "--shares", "3", "--threshold", "2")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("kubectl vault-ha: warning: without --verify the new shares are active the moment "
                        "the last share is in; if that answer is lost on the way (a broken connection), so "
                        "are they. --verify (or --pgp-keys with --backup) guards against that\n")
    old = rekey_status(fake)["nonce"]
    assert vh(fake, "rekey", "cancel").returncode == 0
    assert vh(fake, "rekey", "start", "--verify").returncode == 0
    new = rekey_status(fake)["nonce"]
    # One line that says what happened: replaced, not "lost" and "another in progress".
    r = vh(fake, "rekey", "submit", "--keys-file", holders[0], "--nonce", old)
    assert r.returncode == 1
    assert re.fullmatch(
        r"kubectl vault-ha: the rekey with nonce %s \(started at \d{4}-\d\d-\d\d \d\d:\d\d UTC on vault-0\) "
        r"was replaced by nonce %s, in progress on vault-0: check with whoever started it before you "
        r"submit\n" % (old, new), r.stderr), r.stderr
    # A nonce nobody started is not a "lost" ceremony.
    typo = "0" + new[1:] if new[0] != "0" else "1" + new[1:]
    r = vh(fake, "rekey", "submit", "--keys-file", holders[0], "--nonce", typo)
    assert r.returncode == 1
    assert r.stderr == ("kubectl vault-ha: unknown nonce %s: no rekey with it was started that the pods' "
                        "logs show; the one in progress on vault-0 has nonce %s: check the nonce you were "
                        "given\n" % (typo, new)), r.stderr
    assert vh(fake, "rekey", "cancel").returncode == 0
    r = vh(fake, "rekey", "submit", "--keys-file", holders[0], "--nonce", typo)
    assert r.returncode == 1
    assert r.stderr == ("kubectl vault-ha: unknown nonce %s: no rekey with it was started that the pods' "
                        "logs show, and none is in progress on vault-0: check the nonce you were given\n"
                        % typo), r.stderr
    assert rekey_status(fake)["progress"] == 0


def test_rekey_verify_with_a_wrong_new_share(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path)
    out, r = rekey_until_verification(fake, tmp_path, holders)
    new = json.loads(out.read_text())["unseal_keys_b64"]
    vnonce = rekey_status(fake)["verification_nonce"]
    assert vh(fake, "rekey", "verify", "--keys-file", write_private(tmp_path / "n0", new[0] + "\n")).returncode == 0
    r = vh(fake, "rekey", "verify", "--keys-file", write_private(tmp_path / "bad", corrupt(new[1]) + "\n"))
    assert r.returncode == 1
    assert r.stderr.endswith(
        "kubectl vault-ha: verification failed: the new shares did not combine into the new key. Vault "
        "restarted the verification with a new nonce: every new holder verifies again (nothing changed: "
        "the old shares are still active)\n"), r.stderr
    st = rekey_status(fake)
    assert st["started"] is True and st["verification_nonce"] not in ("", vnonce)
    secrets = init["unseal_keys_b64"] + init["unseal_keys_hex"] + new + [corrupt(new[1])]
    assert secrets_in_argv(fake, secrets) == []


def test_generate_root_keeps_the_token_when_it_cannot_be_decoded_or_stored(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path, "--vault-opt", "preset_threshold=2")
    otp = tmp_path / "otp.txt"
    assert vh(fake, "generate-root", "start", "--otp-file", str(otp)).returncode == 0
    # --output needs the OTP: refused, not ignored.
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[0], "--output", str(tmp_path / "t"))
    assert r.returncode == 64 and r.stderr == (
        "kubectl vault-ha: --output needs --otp-file: without the OTP there is no token to write, only "
        "the encoded one\n"), r.stderr
    # An OTP of the wrong length is refused before any share is sent.
    short = write_private(tmp_path / "short", "abc\n")
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[0], "--otp-file", short)
    assert r.returncode == 1
    assert r.stderr == ("kubectl vault-ha: %s holds 3 characters but this root generation's one-time "
                        "password has 28: it is not the OTP of this attempt; nothing was submitted\n"
                        % short), r.stderr
    assert json.loads(vh(fake, "generate-root", "status", "-o", "json").stdout)["progress"] == 0
    # Wrong share, then a duplicate.
    assert vh(fake, "generate-root", "submit", "--keys-file", holders[0]).returncode == 0
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[0])
    assert r.returncode == 1
    assert r.stderr.endswith("kubectl vault-ha: this share was already submitted in this root generation: "
                             "the progress did not change; another key holder must submit theirs\n"), r.stderr
    wrong = write_private(tmp_path / "wrong", corrupt(init["unseal_keys_b64"][1]) + "\n")
    r = vh(fake, "generate-root", "submit", "--keys-file", wrong)
    assert r.returncode == 1
    assert r.stderr.endswith("every key holder must submit again\n"), r.stderr
    assert json.loads(vh(fake, "generate-root", "status", "-o", "json").stdout)["progress"] == 0
    assert vh(fake, "generate-root", "submit", "--keys-file", holders[0]).returncode == 0
    # The decoded token to a pipe: refused before the last share is sent.
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[1], "--otp-file", str(otp))
    assert r.returncode == 1
    assert r.stderr.endswith("kubectl vault-ha: standard output is not a terminal: the new root token would "
                             "be shown there; give --output FILE (0600) instead\n"), r.stderr
    assert json.loads(vh(fake, "generate-root", "status", "-o", "json").stdout)["progress"] == 1
    # An OTP of the right length that is not this attempt's: the encoded token is kept.
    other = write_private(tmp_path / "other", "A" * 28 + "\n")
    token_file = tmp_path / "root.token"
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[1], "--otp-file", other,
           "--output", str(token_file))
    assert r.returncode == 1
    m = re.search(r"kubectl vault-ha: the root token was generated but not stored; keep what follows to "
                  r"decode it:\nEncoded token: (\S+)\nThe holder of the OTP decodes it:\n  kubectl vault-ha "
                  r"generate-root decode --otp-file OTP-FILE (\S+)\n$", r.stderr)
    assert m and m.group(1) == m.group(2), r.stderr
    assert not token_file.exists()
    r = run_plugin(["generate-root", "decode", "--otp-file", str(otp), m.group(1), "--output",
                    str(token_file), "-o", "json"], kubeconfig=tmp_path / "none")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"pod": "", "complete": True, "output": str(token_file)}
    assert token_file.read_text().startswith("hvs.")
    # With --otp-file and -o json, the final output is JSON.
    otp2 = tmp_path / "otp2"
    assert vh(fake, "generate-root", "start", "--otp-file", str(otp2)).returncode == 0
    assert vh(fake, "generate-root", "submit", "--keys-file", holders[0]).returncode == 0
    t2 = tmp_path / "t2"
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[1], "--otp-file", str(otp2),
           "--output", str(t2), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"pod": "vault-0", "complete": True, "output": str(t2)}
    secrets = init["unseal_keys_b64"] + [token_file.read_text().strip(), t2.read_text().strip(),
                                         otp.read_text().strip(), otp2.read_text().strip()]
    assert secrets_in_argv(fake, secrets) == []


def test_generate_root_with_pgp_says_how_to_decrypt(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path, "--vault-opt", "preset_threshold=2")
    pub, priv = pgp.make_test_key(bits=1024)
    (tmp_path / "k.pub").write_bytes(pub)
    assert vh(fake, "generate-root", "start", "--pgp-key", str(tmp_path / "k.pub")).returncode == 0
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[0], "--otp-file", str(tmp_path / "x"))
    assert r.returncode == 64 and "encrypts the token with a PGP key" in r.stderr, r.stderr
    assert vh(fake, "generate-root", "submit", "--keys-file", holders[0]).returncode == 0
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[1])
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"Root generation complete on vault-0\.\nEncoded token: (\S+)\nThe holder of the PGP "
                     r"private key \(fingerprint [0-9a-f]+\) decrypts it:\n  echo (\S+) \| base64 -d \| gpg -d\n",
                     r.stdout)
    assert m and m.group(1) == m.group(2), r.stdout
    token = pgp.decrypt(priv, base64.b64decode(m.group(1))).decode()
    assert token.startswith("hvs.")
    assert secrets_in_argv(fake, init["unseal_keys_b64"] + [token]) == []


def test_rotate_needs_a_token_on_vault_1x(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path)
    r = vh(fake, "rotate")
    assert r.returncode == 1
    assert r.stderr == ("kubectl vault-ha: rotate needs a Vault token: set VAULT_TOKEN or use --token-file "
                        "FILE\n"), r.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by make deps")
def test_rotate_asks_for_the_token_on_vault_1x(make_fake, tmp_path):
    from test_interactive import Tmux
    import shlex
    fake, init, holders = cluster(make_fake, tmp_path)
    cmd = "env -u NO_COLOR -u VAULT_TOKEN HOME=/nonexistent KUBECONFIG=%s %s rotate; echo EXIT=$?; sleep 60" % (
        shlex.quote(str(fake.kubeconfig)), shlex.quote(BIN))
    t = Tmux(tmp_path, cmd)
    try:
        t.wait_for("Vault token (will be hidden):")
        t.send("-l", init["root_token"])
        t.send("Enter")
        screen = t.wait_for("EXIT=")
        assert "EXIT=0" in screen and "Encryption key rotated on vault-0" in screen, screen
        assert init["root_token"] not in screen
    finally:
        t.close()
    assert secrets_in_argv(fake, [init["root_token"]]) == []


def test_rekey_whose_last_answer_is_lost_says_what_to_check(make_fake, tmp_path):
    fake, init, holders = cluster(make_fake, tmp_path)
    assert vh(fake, "rekey", "start", "--shares", "5", "--threshold", "3").returncode == 0
    for h in holders[:2]:
        assert vh(fake, "rekey", "submit", "--keys-file", h).returncode == 0
    # The exec stream ends before the answer that carries five new shares is through (the
    # status reads before it are shorter): Vault has made the new shares active.
    fake.control("settings", {"cut_after": 800})
    try:
        r = vh(fake, "rekey", "submit", "--keys-file", holders[2], "--output", str(tmp_path / "new.json"))
    finally:
        fake.control("settings", {"cut_after": 0})
    assert r.returncode == 1
    assert r.stderr.endswith(
        "kubectl vault-ha: this share should have completed the rekey, and Vault may have made the new "
        "shares active although their answer was lost. Run `kubectl vault-ha rekey status` now: if it "
        "shows no rekey in progress, the new shares may be lost; restart or seal no pod until this is "
        "checked\n"), r.stderr
    assert not (tmp_path / "new.json").exists()
    assert rekey_status(fake)["started"] is False


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by make deps")
def test_leader_change_during_the_prompt_is_blamed_on_the_right_pod(make_fake, tmp_path):
    from test_interactive import Tmux
    import shlex
    fake, init, holders = cluster(make_fake, tmp_path)
    assert vh(fake, "rekey", "start").returncode == 0
    nonce = rekey_status(fake)["nonce"]
    cmd = "env -u NO_COLOR HOME=/nonexistent KUBECONFIG=%s %s rekey submit 2>&1; echo EXIT=$?; sleep 60" % (
        shlex.quote(str(fake.kubeconfig)), shlex.quote(BIN))
    t = Tmux(tmp_path, cmd)
    try:
        t.wait_for("Unseal key 1 of 3")
        # While the holder types, vault-0 steps down: the rekey it held is gone.
        root = write_private(tmp_path / "root", init["root_token"] + "\n")
        assert vh(fake, "step-down", "--token-file", root).returncode == 0
        wait_for(lambda: active_pod(fake) not in (None, "vault-0"), 60, what="another active pod")
        now = active_pod(fake)
        t.send("-l", init["unseal_keys_b64"][0])
        t.send("Enter")
        t.wait_for("Unseal key 2 of 3")
        t.send("Enter")
        screen = t.wait_for("EXIT=")
    finally:
        t.close()
    flat = " ".join(screen.split())
    assert "EXIT=1" in flat, screen
    assert ("(nonce %s) was lost: vault-0, which held it in memory, is no longer the active node (%s is "
            "now)" % (nonce, now)) in flat, screen


def test_rekey_of_the_recovery_keys_under_auto_unseal(make_fake, tmp_path):
    """--target recovery (docs/ceremonies.md §2.8) on an auto-unseal cluster: the holders give
    their recovery shares from init's JSON (under auto-unseal it has no unseal keys, the
    recovery keys instead); the new shares are written under init's recovery names, never as
    unseal keys, and the file serves the next recovery ceremony; the old shares no longer do."""
    fake, init, _ = cluster(make_fake, tmp_path, "--vault-opt", "seal_type=transit")
    holders = [write_private(tmp_path / ("holder%d.json" % i), json.dumps(
        {"unseal_keys_b64": [], "unseal_keys_hex": [], "recovery_keys_b64": [k],
         "recovery_keys_hex": []})) for i, k in enumerate(init["unseal_keys_b64"][:3])]
    r = vh(fake, "rekey", "start", "--target", "recovery", "--shares", "3", "--threshold", "2")
    assert r.returncode == 0, r.stderr
    nonce = json.loads(vh(fake, "rekey", "status", "--target", "recovery", "-o", "json").stdout)["nonce"]
    assert r.stdout.endswith("  kubectl vault-ha rekey submit --nonce %s --target recovery\n" % nonce)
    for h in holders[:2]:
        r = vh(fake, "rekey", "submit", "--target", "recovery", "--keys-file", h)
        assert r.returncode == 0, r.stderr
    # The last share, without --output and with no terminal: refused, and said what it is.
    r = vh(fake, "rekey", "submit", "--target", "recovery", "--keys-file", holders[2])
    assert r.returncode == 1
    assert r.stderr.endswith("kubectl vault-ha: standard output is not a terminal: the new "
                             "recovery key shares would be shown there; give --output FILE "
                             "(0600) instead\n"), r.stderr
    out = tmp_path / "new-recovery.json"
    r = vh(fake, "rekey", "submit", "--target", "recovery", "--keys-file", holders[2],
           "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "Rekey complete on vault-0: 3 new shares, threshold 2, written to %s (mode 0600).\n"
        "The new shares are active now: the old recovery shares no longer work (generate-root, "
        "rekey, seal migration).\n" % out)
    new = json.loads(out.read_text())
    assert list(new) == ["recovery_keys_b64", "recovery_keys_hex", "recovery_keys_shares",
                         "recovery_keys_threshold", "nonce"]
    assert new["recovery_keys_shares"] == 3 and new["recovery_keys_threshold"] == 2
    # The next recovery rekey: two old shares are refused at the threshold ...
    assert vh(fake, "rekey", "start", "--target", "recovery").returncode == 0
    for h in holders[:2]:
        r = vh(fake, "rekey", "submit", "--target", "recovery", "--keys-file", h,
               "--output", str(tmp_path / "never.json"))
    assert r.returncode == 1 and not (tmp_path / "never.json").exists()
    assert rekey_status_recovery(fake)["progress"] == 0
    # ... and the new file's shares (two of them: the threshold) complete it.
    r = vh(fake, "rekey", "submit", "--target", "recovery", "--keys-file", str(out),
           "--output", str(tmp_path / "newer.json"))
    assert r.returncode == 0, r.stderr
    assert "recovery_keys_b64" in json.loads((tmp_path / "newer.json").read_text())
    assert secrets_in_argv(fake, init["unseal_keys_b64"] + new["recovery_keys_b64"]) == []


def rekey_status_recovery(fake):
    r = vh(fake, "rekey", "status", "--target", "recovery", "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_rekey_on_auto_unseal_wants_a_target_and_barrier_rotates_the_root_key(make_fake, tmp_path):
    """docs/ceremonies.md §2.8: on auto-unseal the barrier target only rotates the root key (1/1
    forced, recovery shares authorise, no shares returned): without --target the start is
    refused and points to --target recovery; --target barrier says what it does and writes no
    keys file."""
    fake, init, _ = cluster(make_fake, tmp_path, "--vault-opt", "seal_type=transit",
                            "--vault-opt", "preset_threshold=2")
    r = vh(fake, "rekey", "start")
    assert r.returncode == 1
    assert r.stderr == (
        "kubectl vault-ha: vault-0 uses auto-unseal (recovery keys): a rekey of the barrier target (the "
        "default) only rotates the root key, which the seal stores, and returns no shares. For new "
        "recovery shares: `kubectl vault-ha rekey start --target recovery` (and --target recovery on "
        "every rekey command of that ceremony); to rotate the root key on purpose: --target barrier\n")
    assert rekey_status(fake)["started"] is False
    r = vh(fake, "rekey", "start", "--target", "barrier", "--verify")
    assert r.returncode == 64 and "--verify, --pgp-keys and --backup do not apply" in r.stderr
    r = vh(fake, "rekey", "start", "--target", "barrier")
    assert r.returncode == 0, r.stderr
    nonce = rekey_status(fake)["nonce"]
    assert r.stderr == ""
    assert r.stdout == (
        "Root key rotation started on vault-0: nonce %s.\n"
        "Auto-unseal: this rekey of the barrier rotates the root key only; it returns no shares, and "
        "the recovery shares stay as they are.\n"
        "2 recovery key holders must each submit their recovery share (the nonce is not a secret; "
        "share it):\n  kubectl vault-ha rekey submit --nonce %s --target barrier\n" % (nonce, nonce))
    holders = [write_private(tmp_path / ("rec%d" % i), k + "\n") for i, k in enumerate(init["unseal_keys_b64"])]
    assert vh(fake, "rekey", "submit", "--target", "barrier", "--keys-file", holders[0]).returncode == 0
    out = tmp_path / "never.json"
    r = vh(fake, "rekey", "submit", "--target", "barrier", "--keys-file", holders[1], "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "Root key rotated on vault-0. Vault returned no shares (auto-unseal: the seal stores the root "
        "key); the recovery shares are unchanged and still authorise generate-root and rekey. Nothing "
        "was written to %s.\n" % out)
    assert not out.exists()
    assert rekey_status(fake)["started"] is False
    # The recovery shares still work: a recovery rekey with them completes.
    assert vh(fake, "rekey", "start", "--target", "recovery", "--shares", "1", "--threshold", "1").returncode == 0
    new = tmp_path / "new-recovery.json"
    for h in holders[:2]:
        r = vh(fake, "rekey", "submit", "--target", "recovery", "--keys-file", h, "--output", str(new))
    assert r.returncode == 0, r.stderr
    assert len(json.loads(new.read_text())["recovery_keys_b64"]) == 1


def test_lost_root_generation_after_a_step_down_is_explained_as_kept_on_the_old_leader(make_fake, tmp_path):
    """docs/ceremonies.md §1.3, §3.5: a step-down does not discard a root generation; the new
    active node does not see it, and the old one keeps it until its process restarts."""
    fake, init, holders = cluster(make_fake, tmp_path, "--vault-opt", "preset_threshold=2")
    r = vh(fake, "generate-root", "start", "--otp-file", str(tmp_path / "otp"))
    assert r.returncode == 0, r.stderr
    nonce = re.search(r"nonce ([0-9a-f-]+)\.", r.stdout).group(1)
    now = step_down_vault0(fake, tmp_path, init)
    r = vh(fake, "generate-root", "submit", "--keys-file", holders[0], "--nonce", nonce)
    assert r.returncode == 1
    assert re.fullmatch(
        r"kubectl vault-ha: the root generation started at \d{4}-\d\d-\d\d \d\d:\d\d UTC on vault-0 \(nonce %s\) "
        r"was lost: vault-0, which holds it in memory, is no longer the active node \(%s is now, and has "
        r"none\)\. vault-0 keeps the stale attempt until its Vault process restarts: if it leads again, "
        r"`generate-root cancel` clears it\n"
        r"kubectl vault-ha: it must be started again \(`kubectl vault-ha generate-root start`\) and every "
        r"key holder must submit again\n" % (nonce, now), r.stderr), r.stderr


def test_rekey_output_that_cannot_be_written_is_not_dumped_silently(make_fake, tmp_path):
    """The new shares are active once the last share is in: when --output cannot be written
    (here a file size limit: every file fails), a rescue file is tried next to it, then
    standard output with a loud warning; the failed files are removed."""
    import resource
    import signal
    fake, init, holders = cluster(make_fake, tmp_path)
    assert vh(fake, "rekey", "start", "--shares", "3", "--threshold", "2").returncode == 0
    for h in holders[:2]:
        assert vh(fake, "rekey", "submit", "--keys-file", h).returncode == 0
    outdir = tmp_path / "out"
    outdir.mkdir()

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # a write past the limit fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update(HOME="/nonexistent", KUBECONFIG=str(fake.kubeconfig))
    p = subprocess.run([BIN, "rekey", "submit", "--keys-file", holders[2], "--output",
                        str(outdir / "new.json")], env=env, capture_output=True, text=True,
                       timeout=120, preexec_fn=small_files)
    assert p.returncode == 1, p.stderr
    shown, _, after = p.stdout.partition("\n}\n")
    new = json.loads(shown + "\n}\n")
    assert after == "The new shares are active now: the old ones no longer unseal.\n"
    assert new["unseal_shares"] == 3 and len(new["unseal_keys_b64"]) == 3
    assert re.fullmatch(
        r"Rekey on vault-0, nonce [0-9a-f-]+: 2 of 3 shares given so far\.\n"
        r"kubectl vault-ha: writing %s failed: [^\n]*\n"
        r"kubectl vault-ha: writing %s\.rescue-\w{6} failed: [^\n]*\n"
        r"kubectl vault-ha: WARNING: no file could hold the new shares, and Vault has them active or "
        r"pending: they follow on standard output, which is not a terminal: whatever reads it now "
        r"holds them\. Store them safely now: they are shown only once\n"
        % (re.escape(str(outdir / "new.json")), re.escape(str(outdir / "new.json"))), p.stderr), p.stderr
    assert os.listdir(outdir) == []
    # The shares shown are the active ones: they unseal a restarted pod.
    assert fake.kubectl("delete", "pod", "vault-2", "-n", "vault").returncode == 0
    r = vh(fake, "unseal", "vault-2", "--keys-file",
           write_private(tmp_path / "k", "\n".join(new["unseal_keys_b64"][:2]) + "\n"))
    assert r.returncode == 0, r.stderr
