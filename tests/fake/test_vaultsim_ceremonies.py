"""The simulated key ceremonies: `operator rekey` (with -verify, PGP, cancel), `operator
generate-root` (OTP, decode), `operator rotate` / `key-status`, and OpenBao's `rotate-keys` and
`generate-root-token`, run as real processes against a served VaultCluster.

Each test names the section of docs/ceremonies.md it checks."""
import base64
import json

import pytest

from vaultsim import pgp
from vaultsim.testing import SimServer, jout, status, wait_for

REKEY_URL = "http://127.0.0.1:8200/v1/sys/rekey"


def api_error(prefix, method, path, code, *errors):
    return ("%s: Error making API request.\n\nURL: %s http://127.0.0.1:8200/v1/%s\nCode: %d. Errors:\n\n%s\n"
            % (prefix, method, path, code, "".join("* %s" % e for e in errors)))


@pytest.fixture
def ha(tmp_path):
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "election_seconds": "0.2",
                                                  "stepdown_sleep_seconds": "0.5"}) as s:
        yield s


def keys_of(s):
    return s.vc.init_result["unseal_keys_b64"]


def rekey(s, pod, *args, input=None):
    return s.vault(pod, "operator", "rekey", "-format=json", *args, input=input)


def submit(s, pod, key, nonce, *extra):
    return rekey(s, pod, "-nonce", nonce, *extra, "-", input=key.encode())


def corrupt(share_b64):
    """Another holder's share with a wrong value: same x coordinate, so it combines into garbage."""
    raw = bytearray(base64.b64decode(share_b64))
    raw[0] ^= 0x5A
    return base64.b64encode(bytes(raw)).decode()


def leader_pod(s):
    for p in ("vault-0", "vault-1", "vault-2"):
        st = status(s, p)
        if st.get("is_self"):
            return p
    return None


# ---------------------------------------------------------------- rekey (§2)
def test_rekey_by_three_holders_old_shares_refused_new_ones_unseal(ha):
    """§2.4/§2.5: init prints the status; each non-final submit prints a fresh status; the final
    one prints keys without verification_nonce; then the old shares no longer unseal a restarted
    pod and the new ones do."""
    st = jout(rekey(ha, "vault-1", "-init", "-key-shares=3", "-key-threshold=2"))
    assert list(st) == ["nonce", "started", "t", "n", "progress", "required", "pgp_fingerprints", "backup",
                        "verification_required", "verification_nonce"]
    assert st["started"] is True and (st["t"], st["n"], st["progress"], st["required"]) == (2, 3, 0, 3)
    old = keys_of(ha)
    for i, k in enumerate(old[:2]):
        r = submit(ha, "vault-%d" % i, k, st["nonce"])      # any pod: standbys forward (§1.3)
        assert r.returncode == 0 and jout(r)["progress"] == i + 1
    r = submit(ha, "vault-2", old[2], st["nonce"])
    final = jout(r)
    assert list(final) == ["nonce", "complete", "keys", "keys_base64", "pgp_fingerprints", "backup",
                           "verification_required"]
    assert final["complete"] is True and len(final["keys"]) == 3 and len(final["keys"][0]) == 66
    assert jout(rekey(ha, "vault-0", "-status"))["started"] is False
    ha.delete_pod("vault-2")
    r = None
    for k in old[:2]:           # the threshold is 2 now
        r = ha.vault("vault-2", "operator", "unseal", k)
    assert r.returncode == 2 and "message authentication failed" in r.stderr.decode()
    assert status(ha, "vault-2")["sealed"] is True
    for k in final["keys_base64"][:2]:
        ha.vault("vault-2", "operator", "unseal", k)
    assert status(ha, "vault-2")["sealed"] is False and status(ha, "vault-2")["t"] == 2


def test_rekey_wrong_share_resets_progress_nonce_stays(ha):
    """§2.5: a wrong quorum fails at the threshold with 400 'rootter key verification failed',
    progress back to 0, same nonce; a duplicate share is a 400 naming the generation operation."""
    st = jout(rekey(ha, "vault-0", "-init", "-n", "1", "-t", "1"))
    old = keys_of(ha)
    assert submit(ha, "vault-0", old[0], st["nonce"]).returncode == 0
    r = submit(ha, "vault-0", old[0], st["nonce"])
    assert r.returncode == 2
    assert r.stderr.decode() == api_error("Error posting unseal key", "PUT", "sys/rekey/update", 400,
                                          "given key has already been provided during this generation operation")
    assert submit(ha, "vault-0", old[1], st["nonce"]).returncode == 0
    r = submit(ha, "vault-0", corrupt(old[2]), st["nonce"])
    assert r.returncode == 2 and "rootter key verification failed" in r.stderr.decode()
    again = jout(rekey(ha, "vault-0", "-status"))
    assert again["progress"] == 0 and again["nonce"] == st["nonce"]


def test_rekey_submit_errors_nonce_empty_key_no_tty(ha):
    """§1.2: '-' without -nonce; an empty stdin (exec without -i); no KEY without a TTY; a wrong nonce
    leaks the right one; no rekey in progress is exit 1."""
    r = rekey(ha, "vault-0", "-", input=b"x")
    assert r.returncode == 1 and r.stderr.decode().startswith("No rekey is in progress.")
    st = jout(rekey(ha, "vault-0", "-init"))
    r = rekey(ha, "vault-0", "-", input=keys_of(ha)[0].encode())
    assert r.returncode == 1 and r.stderr.decode() == "Missing nonce value: specify it via the -nonce flag\n"
    r = submit(ha, "vault-0", "", st["nonce"])
    assert r.returncode == 2 and "'key' must be specified in request body as JSON" in r.stderr.decode()
    r = submit(ha, "vault-0", keys_of(ha)[0], "wrong")
    assert r.returncode == 2 and ('nonce for this rekey operation is "%s"' % st["nonce"]) in r.stderr.decode()
    r = rekey(ha, "vault-0", input=b"")
    assert r.returncode == 1 and r.stdout.decode().startswith("Rekey operation nonce: %s\n" % st["nonce"])
    assert "file descriptor 0 is not a terminal" in r.stderr.decode()
    r = rekey(ha, "vault-0", "-init")
    assert r.returncode == 2 and "* rekey already in progress" in r.stderr.decode()


def test_rekey_init_validation(ha):
    """§2.3: backup without PGP, PGP count, T > N (400) and Validate (500)."""
    r = rekey(ha, "vault-0", "-init", "-backup")
    assert r.returncode == 2 and "cannot request a backup of the new keys without providing PGP keys" in r.stderr.decode()
    r = rekey(ha, "vault-0", "-init", "-n", "2", "-t", "3")
    assert "Code: 400" in r.stderr.decode() and "provided threshold greater than the total shares" in r.stderr.decode()
    r = rekey(ha, "vault-0", "-init", "-n", "2", "-t", "1")
    assert r.stderr.decode().endswith("* invalid rekey seal configuration: threshold must be greater than one "
                                      "for multiple shares\n") and "Code: 500" in r.stderr.decode()


def test_rekey_cancel_needs_nonce_within_deadline(tmp_path):
    """§2.7: within the window cancel without the nonce is 400 'invalid request'; with it,
    'Success! Canceled rekeying (if it was started)' in plain text even with -format=json; after
    the window no nonce is needed."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed"}) as s:
        st = jout(rekey(s, "vault-0", "-init"))
        r = rekey(s, "vault-0", "-cancel")
        assert r.returncode == 2 and r.stderr.decode() == api_error(
            "Error canceling rekey", "DELETE", "sys/rekey/init", 400, "invalid request")
        r = rekey(s, "vault-0", "-cancel", "-nonce", st["nonce"])
        assert r.returncode == 0 and r.stdout.decode() == "Success! Canceled rekeying (if it was started)\n"
        assert jout(rekey(s, "vault-0", "-status"))["started"] is False
        r = rekey(s, "vault-0", "-cancel", "-verify", "-nonce", "x")
        assert r.returncode == 1 and r.stderr.decode() == "The -nonce flag is not valid with the -verify flag\n"
    with SimServer(tmp_path / "late", replicas=1,
                   options={"preset": "unsealed", "rekey_cancel_deadline_seconds": "0"}) as s:
        jout(rekey(s, "vault-0", "-init"))
        assert rekey(s, "vault-0", "-cancel").returncode == 0


def test_rekey_verify_flow(ha):
    """§2.6: the final old-key submit returns keys with a verification nonce and activates nothing;
    a wrong verification rotates the nonce; the new holders' quorum completes with plain text."""
    st = jout(rekey(ha, "vault-0", "-init", "-verify", "-n", "3", "-t", "2"))
    assert st["verification_required"] is True
    for k in keys_of(ha)[:3]:
        r = submit(ha, "vault-0", k, st["nonce"])
    final = jout(r)
    assert final["verification_required"] is True and final["verification_nonce"]
    r = submit(ha, "vault-0", keys_of(ha)[0], st["nonce"])
    assert "rekey operation already finished; verification must be performed" in r.stderr.decode()
    v = jout(rekey(ha, "vault-0", "-status", "-verify"))
    assert v == {"nonce": final["verification_nonce"], "started": True, "t": 2, "n": 3, "progress": 0}
    new = final["keys_base64"]
    assert submit(ha, "vault-0", new[0], v["nonce"], "-verify").returncode == 0
    r = submit(ha, "vault-0", corrupt(new[1]), v["nonce"], "-verify")
    assert "rekey verification failed; incorrect key shares supplied" in r.stderr.decode()
    v2 = jout(rekey(ha, "vault-0", "-status", "-verify"))
    assert v2["nonce"] != v["nonce"] and v2["progress"] == 0
    # Not active yet: the old shares still unseal.
    for k in new[:2]:
        r = submit(ha, "vault-0", k, v2["nonce"], "-verify")
    assert r.returncode == 0 and r.stdout.decode() == (
        "Rekey verification successful. The rekey operation is complete and the new\nkeys are now active.\n")
    ha.delete_pod("vault-1")
    for k in new[:2]:
        ha.vault("vault-1", "operator", "unseal", k)
    assert status(ha, "vault-1")["sealed"] is False


def test_rekey_pgp_shares_decrypt_to_hex(tmp_path):
    """§2.4: with -pgp-keys each share is encrypted; the plaintext is the share's hex string,
    which unseals as is; fingerprints in key order."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed"}) as s:
        privs, paths = [], []
        for i in range(2):
            pub, priv = pgp.make_test_key(bits=1024)
            path = "%s/k%d.asc" % (s.cwd("vault-0"), i)
            with open(path, "wb") as f:
                f.write(pub)
            privs.append(priv)
            paths.append(path)
        st = jout(rekey(s, "vault-0", "-init", "-n", "2", "-t", "2", "-pgp-keys", ",".join(paths), "-backup"))
        assert len(st["pgp_fingerprints"]) == 2 and st["backup"] is True
        for k in keys_of(s)[:3]:
            r = submit(s, "vault-0", k, st["nonce"])
        final = jout(r)
        plain = [pgp.decrypt(p, base64.b64decode(k)).decode() for p, k in zip(privs, final["keys_base64"])]
        assert all(len(p) == 66 for p in plain) and final["backup"] is True
        s.delete_pod("vault-0")
        for k in plain:
            s.vault("vault-0", "operator", "unseal", k)
        assert status(s, "vault-0")["sealed"] is False


def test_rekey_lost_on_step_down_generate_root_invisible(ha):
    """§1.3: a step-down wipes the rekey (preSeal); the new active node has no root attempt either."""
    jout(rekey(ha, "vault-0", "-init"))
    g = jout(ha.vault("vault-0", "operator", "generate-root", "-init", "-format=json"))
    assert g["started"] is True
    first = leader_pod(ha)
    ha.write_token(first, ha.vc.init_result["root_token"])
    assert ha.vault(first, "operator", "step-down").returncode == 0
    wait_for(lambda: leader_pod(ha) not in (None, first), 20, what="another leader")
    assert jout(rekey(ha, "vault-0", "-status"))["started"] is False
    r = ha.vault("vault-0", "operator", "generate-root", "-format=json", "-nonce", g["nonce"], "-",
                 input=keys_of(ha)[0].encode())
    assert r.returncode == 1 and r.stderr.decode().startswith("No root generation is in progress.")


# ---------------------------------------------------------------- generate-root (§3)
def test_generate_root_by_two_holders_and_decode(tmp_path):
    """§3.2/§3.3: init returns a 28-character OTP once; updates carry otp_length 0; the final one
    returns encoded_token == encoded_root_token, unpadded base64 of token XOR OTP; -decode."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed", "preset_shares": "3",
                                                  "preset_threshold": "2"}) as s:
        g = jout(s.vault("vault-0", "operator", "generate-root", "-init", "-format=json"))
        assert len(g["otp"]) == 28 and g["otp_length"] == 28 and g["required"] == 2
        assert jout(s.vault("vault-0", "operator", "generate-root", "-status", "-format=json"))["otp"] == ""
        keys = keys_of(s)
        r = s.vault("vault-0", "operator", "generate-root", "-format=json", "-nonce", g["nonce"], "-",
                    input=keys[0].encode())
        mid = jout(r)
        assert mid["progress"] == 1 and mid["otp_length"] == 0 and mid["complete"] is False
        r = s.vault("vault-0", "write", "-format=json", "sys/generate-root/update", "-",
                    input=json.dumps({"key": keys[1], "nonce": g["nonce"]}).encode())
        done = jout(r)["data"]
        assert done["complete"] is True and done["encoded_token"] == done["encoded_root_token"]
        assert "=" not in done["encoded_token"] and len(done["encoded_token"]) == 38
        r = s.vault("vault-0", "operator", "generate-root", "-decode", done["encoded_token"], "-otp", g["otp"])
        token = r.stdout.decode().strip()
        raw = base64.b64decode(done["encoded_token"] + "==")
        assert token == bytes(a ^ b for a, b in zip(raw, g["otp"].encode())).decode()
        assert token.startswith("hvs.")
        s.write_token("vault-0", token)
        assert s.vault("vault-0", "operator", "key-status", "-format=json").returncode == 0


def test_generate_root_errors(tmp_path):
    """§3.1/§3.4: -otp and -pgp-key together; wrong OTP length; wrong quorum resets progress."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed", "preset_shares": "3",
                                                  "preset_threshold": "2"}) as s:
        r = s.vault("vault-0", "operator", "generate-root", "-init", "-otp", "abc")
        assert r.returncode == 2 and "* OTP string is wrong length" in r.stderr.decode()
        g = jout(s.vault("vault-0", "operator", "generate-root", "-init", "-format=json"))
        r = s.vault("vault-0", "operator", "generate-root", "-init")
        assert "* root generation already in progress" in r.stderr.decode()
        k = keys_of(s)[0]
        s.vault("vault-0", "operator", "generate-root", "-nonce", g["nonce"], "-", input=k.encode())
        r = s.vault("vault-0", "operator", "generate-root", "-nonce", g["nonce"], "-",
                    input=corrupt(keys_of(s)[1]).encode())
        assert r.returncode == 2 and "root generation aborted: root key verification failed" in r.stderr.decode()
        st = jout(s.vault("vault-0", "operator", "generate-root", "-status", "-format=json"))
        assert st["progress"] == 0 and st["nonce"] == g["nonce"]
        r = s.vault("vault-0", "operator", "generate-root", "-cancel", "-format=json")
        assert r.stdout.decode() == "Success! Root token generation canceled (if it was started)\n"


# ---------------------------------------------------------------- Vault 2.x (§1.6)
def test_vault2_needs_a_token(tmp_path):
    """§1.6: on 2.x rekey and generate-root without a token are 403 permission denied, exit 2;
    -decode fails on its status call; with a token they work."""
    with SimServer(tmp_path, replicas=1, version="2.0.4", options={"preset": "unsealed"}) as s:
        r = rekey(s, "vault-0", "-status")
        assert r.returncode == 2 and r.stderr.decode() == api_error(
            "Error reading rekey status", "GET", "sys/rekey/init", 403, "permission denied")
        r = s.vault("vault-0", "operator", "generate-root", "-decode", "x", "-otp", "y")
        assert r.returncode == 2 and "Error getting root generation status" in r.stderr.decode()
        s.write_token("vault-0", s.vc.init_result["root_token"])
        assert jout(rekey(s, "vault-0", "-status"))["started"] is False
        assert jout(s.vault("vault-0", "operator", "generate-root", "-init", "-format=json"))["started"]


def test_vault1_needs_no_token(tmp_path):
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed"}) as s:
        assert jout(rekey(s, "vault-0", "-status"))["required"] == 3


# ---------------------------------------------------------------- rotate, key-status (§4)
def test_rotate_and_the_two_permissions(tmp_path):
    """§4.1: rotate needs update+sudo on sys/rotate and read on sys/key-status; without the
    latter the rotation happens and the exit code is 2."""
    opts = {"preset": "unsealed",
            "ceremony_tokens": "s.rotonly=sys/rotate:update+sudo;s.readonly=sys/key-status:read"}
    with SimServer(tmp_path, replicas=1, options=opts) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        before = jout(s.vault("vault-0", "operator", "key-status", "-format=json"))
        assert list(before) == ["term", "install_time", "encryptions"]
        after = jout(s.vault("vault-0", "operator", "rotate", "-format=json"))
        assert after["term"] == before["term"] + 1
        s.write_token("vault-0", "s.rotonly")
        r = s.vault("vault-0", "operator", "rotate")
        assert r.returncode == 2 and r.stderr.decode().startswith("Error reading key status: ")
        s.write_token("vault-0", "s.readonly")
        r = s.vault("vault-0", "operator", "rotate")
        assert r.returncode == 2 and r.stderr.decode().startswith("Error rotating key: ")
        assert jout(s.vault("vault-0", "operator", "key-status", "-format=json"))["term"] == before["term"] + 2


# ---------------------------------------------------------------- OpenBao (§6)
def test_openbao_rotate_keys_and_generate_root_token(tmp_path):
    """§6: legacy rekey is not mounted on 2.5+ (404 with a token), rotate-keys works with a
    token and cancels without a nonce; generate-root uses generate-root-token (26-char OTP)."""
    with SimServer(tmp_path, replicas=1, openbao=True, options={"preset": "unsealed"}) as s:
        bao = lambda *a, **k: s.vault("vault-0", *a, binary="bao", **k)  # noqa: E731
        r = bao("operator", "rotate-keys", "-status", "-format=json")
        assert r.returncode == 2 and "permission denied" in r.stderr.decode()
        s.write_token("vault-0", s.vc.init_result["root_token"])
        r = bao("operator", "rekey", "-status", "-format=json")
        assert r.returncode == 2 and "Code: 404" in r.stderr.decode()
        st = jout(bao("operator", "rotate-keys", "-init", "-format=json", "-n", "1", "-t", "1"))
        assert st["started"] is True
        r = bao("write", "-format=json", "sys/rotate/root/update", "-",
                input=json.dumps({"key": keys_of(s)[0], "nonce": st["nonce"]}).encode())
        assert jout(r)["data"]["progress"] == 1
        assert bao("operator", "rotate-keys", "-cancel").returncode == 0
        g = jout(bao("operator", "generate-root", "-init", "-format=json"))
        assert g["otp_length"] == 26 and len(g["otp"]) == 26


def test_rekey_lost_when_the_same_node_steps_down_and_back(tmp_path):
    """§1.3: preSeal runs before a node becomes active again: its own rekey is gone too, while a
    generate-root attempt on that node survives (not cleared by preSeal)."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed", "election_seconds": "0.1",
                                                  "stepdown_sleep_seconds": "0.3"}) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        assert jout(rekey(s, "vault-0", "-init"))["started"] is True
        g = jout(s.vault("vault-0", "operator", "generate-root", "-init", "-format=json"))
        terms = len(s.vc.leader_history())
        assert s.vault("vault-0", "operator", "step-down").returncode == 0
        wait_for(lambda: len(s.vc.leader_history()) > terms and status(s, "vault-0").get("is_self"), 20,
                 what="vault-0 active again in a new term")
        assert jout(rekey(s, "vault-0", "-status"))["started"] is False
        st = jout(s.vault("vault-0", "operator", "generate-root", "-status", "-format=json"))
        assert st["started"] is True and st["nonce"] == g["nonce"]


# ---------------------------------------------------------------- fidelity fixes (audit of issue 20)
def test_vault2_unauthenticated_access_read_at_process_start(tmp_path):
    """§1.6: enable_unauthenticated_access lists the families 2.x serves without a token; the
    process reads it from its server configuration when it starts (not before); a family not
    listed stays authenticated."""
    with SimServer(tmp_path, replicas=1, version="2.0.4",
                   options={"preset": "unsealed", "enable_unauthenticated_access": "generate-root"}) as s:
        g = jout(s.vault("vault-0", "operator", "generate-root", "-init", "-format=json"))
        assert g["started"] is True
        r = rekey(s, "vault-0", "-status")
        assert r.returncode == 2 and "Code: 403" in r.stderr.decode()
    with SimServer(tmp_path / "hcl", replicas=1, version="2.0.4", options={"preset": "unsealed"}) as s:
        r = s.vault("vault-0", "operator", "generate-root", "-status", "-format=json")
        assert r.returncode == 2 and "permission denied" in r.stderr.decode()
        hcl = 'ui = true\n# enable_unauthenticated_access = ["rekey"]\nenable_unauthenticated_access = [ "generate-root", "rekey" ]\n'
        s.vc.model.config_source = lambda pod: (hcl, {})
        r = s.vault("vault-0", "operator", "generate-root", "-status", "-format=json")
        assert r.returncode == 2, "a running process does not read its configuration again"
        s.delete_pod("vault-0")
        for k in keys_of(s)[:3]:
            s.vault("vault-0", "operator", "unseal", k)
        wait_for(lambda: status(s, "vault-0").get("is_self"), 20, what="vault-0 active")
        assert jout(s.vault("vault-0", "operator", "generate-root", "-status", "-format=json"))["started"] is False
        assert jout(rekey(s, "vault-0", "-status"))["started"] is False


def test_vault2_capability_per_http_verb(tmp_path):
    """§1.6 [inference]: GET needs read, PUT update, DELETE delete on the logical path; a policy
    on sys/rekey/* does not cover sys/rekey-recovery-key/*."""
    opts = {"preset": "unsealed",
            "ceremony_tokens": "s.reader=sys/generate-root/*:read;s.writer=sys/generate-root/*:update;"
                               "s.rekeyall=sys/rekey/*:read+update+delete"}
    with SimServer(tmp_path, replicas=1, version="2.0.4", options=opts) as s:
        gr = lambda *a: s.vault("vault-0", "operator", "generate-root", "-format=json", *a)  # noqa: E731
        s.write_token("vault-0", "s.reader")
        assert jout(gr("-status"))["started"] is False
        r = gr("-init")
        assert r.returncode == 2 and r.stderr.decode() == api_error(
            "Error initializing root generation", "PUT", "sys/generate-root/attempt", 403, "permission denied")
        s.write_token("vault-0", "s.writer")
        r = gr("-status")
        assert r.returncode == 2 and "Code: 403" in r.stderr.decode()
        assert jout(gr("-init"))["started"] is True
        r = gr("-cancel")
        assert r.returncode == 2 and "DELETE" in r.stderr.decode() and "Code: 403" in r.stderr.decode()
        s.write_token("vault-0", "s.rekeyall")
        st = jout(rekey(s, "vault-0", "-init"))
        assert rekey(s, "vault-0", "-cancel", "-nonce", st["nonce"]).returncode == 0


def test_auto_unseal_barrier_rekey_rotates_the_root_key_only(tmp_path):
    """§2.8: on auto-unseal the barrier target forces 1/1, rejects PGP, backup and -verify with
    400, is authorised by the recovery shares (a wrong quorum says 'recovery key verification
    failed'), returns no keys, and leaves the recovery shares as they were."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed", "seal_type": "transit",
                                                  "preset_threshold": "2"}) as s:
        r = rekey(s, "vault-0", "-init", "-verify")
        assert r.returncode == 2 and ("* requiring verification not supported when rekeying the barrier key "
                                      "with recovery keys") in r.stderr.decode()
        st = jout(rekey(s, "vault-0", "-init", "-n", "5", "-t", "3"))
        assert (st["n"], st["t"], st["required"]) == (1, 1, 2)
        keys = keys_of(s)
        assert submit(s, "vault-0", keys[0], st["nonce"]).returncode == 0
        r = submit(s, "vault-0", corrupt(keys[1]), st["nonce"])
        assert r.returncode == 2 and r.stderr.decode() == api_error(
            "Error posting unseal key", "PUT", "sys/rekey/update", 400,
            "recovery key verification failed: recovery key does not match submitted values")
        for k in keys[:2]:
            r = submit(s, "vault-0", k, st["nonce"])
        final = jout(r)
        assert final["complete"] is True and final["keys"] == [] and final["keys_base64"] == []
        # The recovery shares still authorise the next ceremony.
        st = jout(rekey(s, "vault-0", "-init", "-target=recovery", "-n", "1", "-t", "1"))
        for k in keys[:2]:
            r = submit(s, "vault-0", k, st["nonce"], "-target=recovery")
        assert jout(r)["complete"] is True and len(jout(r)["keys"]) == 1


def test_recovery_rekey_wrong_quorum_wording(tmp_path):
    """§2.5: the recovery target's wrong quorum is 'recovery key verification failed', not the
    Shamir barrier's 'rootter key verification failed'."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed", "seal_type": "transit",
                                                  "preset_threshold": "2"}) as s:
        st = jout(rekey(s, "vault-0", "-init", "-target=recovery", "-n", "1", "-t", "1"))
        keys = keys_of(s)
        submit(s, "vault-0", keys[0], st["nonce"], "-target=recovery")
        r = submit(s, "vault-0", corrupt(keys[1]), st["nonce"], "-target=recovery")
        assert r.returncode == 2 and r.stderr.decode().endswith(
            "* recovery key verification failed: recovery key does not match submitted values\n")


@pytest.mark.parametrize("version,needs", [("1.19.6", True), ("1.19.5", False), ("1.18.11", True),
                                           ("1.17.18", True), ("1.16.21", True), ("1.16.20", False),
                                           ("1.21.0", True)])
def test_cancel_nonce_rule_with_the_backports(tmp_path, version, needs):
    """§2.7: 1.20.0 and the backports 1.19.6, 1.18.11, 1.17.18, 1.16.21 want the nonce."""
    with SimServer(tmp_path, replicas=1, version=version, options={"preset": "unsealed"}) as s:
        jout(rekey(s, "vault-0", "-init"))
        r = rekey(s, "vault-0", "-cancel")
        assert (r.returncode == 2 and "invalid request" in r.stderr.decode()) == needs, r.stderr


def test_generate_root_attempt_survives_a_seal_lost_on_restart(tmp_path):
    """§1.3/§3.5: preSeal does not clear the root generation: a seal of the node (the model's
    state set as a seal leaves it) keeps it; a process restart loses it."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed"}) as s:
        g = jout(s.vault("vault-0", "operator", "generate-root", "-init", "-format=json"))
        n = s.vc.model.nodes["vault-0"]

        def seal_and_unseal():
            n.sealed, n.unsealed_at, n.active_since_ns = True, None, None
        s.call(seal_and_unseal)
        for k in keys_of(s)[:3]:
            s.vault("vault-0", "operator", "unseal", k)
        wait_for(lambda: status(s, "vault-0").get("is_self"), 20, what="vault-0 active again")
        st = jout(s.vault("vault-0", "operator", "generate-root", "-status", "-format=json"))
        assert st["started"] is True and st["nonce"] == g["nonce"]
        s.delete_pod("vault-0")
        for k in keys_of(s)[:3]:
            s.vault("vault-0", "operator", "unseal", k)
        wait_for(lambda: status(s, "vault-0").get("is_self"), 20, what="vault-0 active after the restart")
        assert jout(s.vault("vault-0", "operator", "generate-root", "-status", "-format=json"))["started"] is False
