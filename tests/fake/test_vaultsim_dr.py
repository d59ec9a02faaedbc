"""Disaster recovery through the simulated CLI (docs/disaster-recovery.md §1, §5): a
snapshot of one cluster restored into another, freshly initialized one. Covered: the other-cluster
400 without -force (its wording follows the target's seal), the asynchronous apply (fixed delay
plus size; /sys/leader, so `vault status`, waits for it on the active node), every pod sealing
afterwards, the source's keys, token, data and cluster_id, the target's raft peers, the seal
configuration a sealed pod keeps in memory until it restarts, and OpenBao 2.6's harmless stderr
line and uncompressed snapshots. The 307 of a standby is in test_vaultsim_snapshot.py."""
import json
import time
import zlib

import pytest

from vaultsim.model import DEFAULT_OPTIONS, Model
from vaultsim.testing import SimServer, bootstrap, jout, status, wait_for

FAST = {"election_seconds": "0.2", "stabilization_seconds": "0.2", "join_unseal_seconds": "0.05",
        "restore_apply_seconds": "0.2"}


def server(tmp_path, name, **options):
    opts = dict(FAST)
    opts.update({k: str(v) for k, v in options.items()})
    openbao = opts.pop("openbao", "") == "True"
    return SimServer(tmp_path / name, replicas=3, options=opts, openbao=openbao)


def source_snapshot(s, shares=3, threshold=2):
    """Bootstraps s as the source, writes a secret and returns (init, snapshot bytes)."""
    init = bootstrap(s, shares=shares, threshold=threshold)
    r = s.vault("vault-0", "write", "cubbyhole/app", "v=from-source")
    assert r.returncode == 0, r.stderr
    snap = s.vault("vault-0", "operator", "raft", "snapshot", "save", "/dev/stdout").stdout
    return init, snap


def active_pod(s):
    return wait_for(lambda: next((p for p in ("vault-0", "vault-1", "vault-2")
                                  if status(s, p).get("is_self")), None), what="an active pod")


def restore(s, pod, snap, *flags):
    return s.vault(pod, "operator", "raft", "snapshot", "restore", *flags, "/dev/stdin", input=snap)


def unseal_all(s, keys):
    for p in ("vault-0", "vault-1", "vault-2"):
        for k in keys:
            s.vault(p, "operator", "unseal", k)


def test_apply_delay_defaults_to_five_seconds_plus_size():
    """§1.3: a fixed 5 s (restoreOpDelayDuration) plus time that grows with the snapshot."""
    assert DEFAULT_OPTIONS["restore_apply_seconds"] == 5.0
    m = Model(namespace="vault", fullname="vault", replicas=0, workdir="/nonexistent", version="1.21.2",
              tls=False, set_node_id=False, openbao=False, options=dict(DEFAULT_OPTIONS))
    assert m.restore_apply_delay(0) == 5.0
    assert m.restore_apply_delay(640 << 20) == pytest.approx(15.0)


def test_cross_cluster_restore_seals_every_pod_then_the_source_takes_over(tmp_path):
    """§1.2, §1.4-1.6, §5 items 1-3, 7, 9: refused without -force (Shamir wording); with -force
    exit 0 before the apply; then all three pods seal, only the source's keys unseal them, the
    source's token reads the source's data, cluster_id is the source's, the peers the target's."""
    with server(tmp_path, "a") as a, server(tmp_path, "b", restore_apply_seconds=1.0) as b:
        a_init, snap = source_snapshot(a)
        a_id = a.vc.cluster_id("vault-0")
        b_init = bootstrap(b, shares=3, threshold=2)
        b_id = b.vc.cluster_id("vault-0")
        assert a_id != b_id and a_id
        peers_before = sorted(b.vc.node_id(p) for p in ("vault-0", "vault-1", "vault-2"))
        act = active_pod(b)
        r = restore(b, act, snap)
        assert r.returncode == 2
        assert r.stderr.decode().endswith(
            "Code: 400. Errors:\n\n* could not verify hash file, possibly the snapshot is using a different "
            "set of unseal keys; use the snapshot-force API to bypass this check\n")
        r = restore(b, act, snap, "-force")
        assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
        # Accepted, not applied: the seal comes later, on followers too.
        for p in ("vault-0", "vault-1", "vault-2"):
            wait_for(lambda: jout(b.vault(p, "status", "-format=json"))["sealed"], what="%s sealed" % p)
        unseal_all(b, b_init["unseal_keys_b64"][:2])
        assert status(b, "vault-0")["sealed"] is True
        unseal_all(b, a_init["unseal_keys_b64"][:2])
        for p in ("vault-0", "vault-1", "vault-2"):
            assert status(b, p)["sealed"] is False
        act = active_pod(b)
        st = status(b, act)
        assert st["cluster_id"] == a_id
        r = b.vault(act, "read", "-field=v", "cubbyhole/app", extra_env={"VAULT_TOKEN": a_init["root_token"]})
        assert (r.returncode, r.stdout) == (0, b"from-source")
        r = b.vault(act, "read", "cubbyhole/app", extra_env={"VAULT_TOKEN": b_init["root_token"]})
        assert r.returncode == 2 and "permission denied" in r.stderr.decode()
        peers = jout(b.vault(act, "operator", "raft", "list-peers", "-format=json",
                             extra_env={"VAULT_TOKEN": a_init["root_token"]}))
        assert sorted(s["node_id"] for s in peers["data"]["config"]["servers"]) == peers_before


def test_status_on_the_active_pod_waits_for_the_apply(tmp_path):
    """§1.3 item 3: the apply holds the active node's state lock, /sys/leader waits for it, so
    `vault status` there returns only once the apply ended (and the pod sealed)."""
    with server(tmp_path, "a") as a, server(tmp_path, "b", restore_apply_seconds=1.5) as b:
        _, snap = source_snapshot(a)
        bootstrap(b, shares=3, threshold=2)
        act = active_pod(b)
        r = restore(b, act, snap, "-force")
        assert r.returncode == 0, r.stderr
        t0 = time.monotonic()
        r = b.vault(act, "status", "-format=json")
        assert time.monotonic() - t0 >= 1.0
        assert b.vc.model.node(act).sealed


def test_autoseal_target_refuses_with_the_autoseal_wording(tmp_path):
    """§1.2: the 400 names the autoseal key when this cluster's seal is an auto seal."""
    with server(tmp_path, "a") as a, server(tmp_path, "b", preset="unsealed", seal_type="transit") as b:
        _, snap = source_snapshot(a)
        b.write_token("vault-0", b.vc.init_result["root_token"])
        r = restore(b, "vault-0", snap)
        assert r.returncode == 2
        assert r.stderr.decode().endswith(
            "* could not verify hash file, possibly the snapshot is using a different autoseal key; use the "
            "snapshot-force API to bypass this check\n")


def test_the_wording_follows_the_stored_seal_not_the_start_option(tmp_path):
    """§1.2 after a seal migration: the cluster started Shamir (seal_type option) but its storage
    now holds the transit seal, so the 400 names the autoseal key, and a snapshot's
    core/seal-config records the stored type."""
    with server(tmp_path, "a") as a, server(tmp_path, "b", preset="unsealed") as b:
        _, snap = source_snapshot(a)
        b.write_token("vault-0", b.vc.init_result["root_token"])
        rc = b.vc.model.node("vault-0").rc
        rc.stored_type = "transit"  # what migrate_seal leaves once the migration completed
        r = restore(b, "vault-0", snap)
        assert r.returncode == 2
        assert r.stderr.decode().endswith(
            "* could not verify hash file, possibly the snapshot is using a different autoseal key; "
            "use the snapshot-force API to bypass this check\n")
        recs = dict(b.vc.model.records(rc))
        assert json.loads(recs["core/seal-config"])["type"] == "transit"


def test_sealed_pod_keeps_the_new_clusters_threshold_until_it_restarts(tmp_path):
    """§1.4 "Stale cached seal config", §5 item 4: the target was initialized 5/4, the source 3/2.
    After the restore the sealed pods still ask for 4 keys; the source's 2 keys are not enough
    (the third of its keys makes 4 points, which is not the source's 3 shares: they are 3).
    A restarted pod reads the source's 3/2 and unseals with 2 keys."""
    with server(tmp_path, "a") as a, server(tmp_path, "b") as b:
        a_init, snap = source_snapshot(a, shares=3, threshold=2)
        bootstrap(b, shares=5, threshold=4)
        act = active_pod(b)
        assert restore(b, act, snap, "-force").returncode == 0
        wait_for(lambda: status(b, "vault-1")["sealed"], what="vault-1 sealed")
        st = status(b, "vault-1")
        assert (st["n"], st["t"]) == (5, 4)
        for k in a_init["unseal_keys_b64"]:
            last = jout(b.vault("vault-1", "operator", "unseal", "-format=json", k))
        assert (last["sealed"], last["progress"], last["t"]) == (True, 3, 4)
        b.delete_pod("vault-1")
        st = status(b, "vault-1")
        assert (st["n"], st["t"], st["progress"]) == (3, 2, 0)
        for k in a_init["unseal_keys_b64"][:2]:
            b.vault("vault-1", "operator", "unseal", k)
        assert status(b, "vault-1")["sealed"] is False


def test_openbao_26_restore_prints_file_already_closed_and_snapshots_are_stored(tmp_path):
    """§1.2: OpenBao >= 2.6.0 prints a harmless close error on stderr after a successful
    restore and exits 0; §3.4: its snapshots are gzip-framed but not compressed."""
    with server(tmp_path, "a", openbao=True) as a, server(tmp_path, "b", openbao=True) as b:
        a_init, snap = source_snapshot(a)
        z = zlib.decompressobj(wbits=31)
        tar = z.decompress(snap)
        assert z.eof and len(snap) > len(tar)          # stored blocks: larger than the tar
        bootstrap(b, shares=3, threshold=2)
        act = active_pod(b)
        r = restore(b, act, snap, "-force")
        assert (r.returncode, r.stdout) == (0, b"")
        assert r.stderr == b"Error properly closing policy file: close /dev/stdin: file already closed\n"
        wait_for(lambda: status(b, act)["sealed"], what="sealed after the restore")
        unseal_all(b, a_init["unseal_keys_b64"][:2])
        assert status(b, act)["sealed"] is False


def test_leadership_moves_off_the_first_pod_at_three_voters(tmp_path):
    """step_down_at_voters: once the third voter is promoted the leader (the pod that was
    initialized) steps down and a standby leads, so tests can tell the first pod from the
    active one; it happens once per cluster."""
    with server(tmp_path, "a", step_down_at_voters=3) as a:
        bootstrap(a)
        act = active_pod(a)
        assert act != "vault-0"
        history = [p for p, _, _ in a.vc.model.leader_history]
        assert history[0] == "vault-0" and history[-1] == act and len(history) == 2


# ---------------------------------------------------------------- auto-unseal (transit) sources
def transit_seal(s, key):
    """Every pod of s restarts its process with a transit seal on key `key` of the fake's
    transit server (added there when new): what the pods read from a seal stanza."""
    from vaultsim import seal as sealcfg
    m = s.vc.model
    tr = m.transit
    tr.keys.add(key)
    stanzas = sealcfg.parse_seals(
        'seal "transit" {\n  address = "%s"\n  token = "%s"\n  key_name = "%s"\n'
        '  mount_path = "%s/"\n}\n' % (tr.address, tr.token, key, tr.mount))
    for p in ("vault-0", "vault-1", "vault-2"):
        m.node(p).seal = sealcfg.configure(stanzas, {}, None, tr, openbao=False, vtuple=m.vtuple)


def autoseal_bootstrap(s, shares, threshold):
    """init under the auto seal (recovery shares), then joins: every pod unseals itself."""
    init = jout(s.vault("vault-0", "operator", "init", "-format=json",
                        "-recovery-shares=%d" % shares, "-recovery-threshold=%d" % threshold))
    assert (init["unseal_keys_b64"], init["unseal_shares"], init["unseal_threshold"]) == ([], 1, 1)
    assert len(init["recovery_keys_b64"]) == shares
    assert (init["recovery_keys_shares"], init["recovery_keys_threshold"]) == (shares, threshold)
    assert status(s, "vault-0")["sealed"] is False      # no unseal: the seal opened it
    wait_for(lambda: status(s, "vault-0").get("is_self"), what="vault-0 active")
    for p in ("vault-1", "vault-2"):
        r = s.vault(p, "operator", "raft", "join", "http://vault-0.vault-internal:8200")
        assert r.returncode == 0, r.stderr
    for p in ("vault-0", "vault-1", "vault-2"):
        s.write_token(p, init["root_token"])
        wait_for(lambda: not status(s, p)["sealed"], what="%s unsealed by its seal" % p)
    return init


def autoseal_source(s):
    init = autoseal_bootstrap(s, 3, 2)
    r = s.vault("vault-0", "write", "cubbyhole/app", "v=from-source")
    assert r.returncode == 0, r.stderr
    return init, s.vault("vault-0", "operator", "raft", "snapshot", "save", "/dev/stdout").stdout


def test_autoseal_init_takes_recovery_shares_only(tmp_path):
    """docs/vault-cli.md §2: under an auto seal init takes recovery shares (the CLI's 5/3
    defaults go there) and refuses key shares; the node unseals itself."""
    with server(tmp_path, "a", seal_type="transit") as a:
        r = a.vault("vault-0", "operator", "init", "-key-shares=3", "-key-threshold=2")
        assert r.returncode == 2
        assert r.stderr.decode().endswith(
            "* parameters secret_shares,secret_threshold not applicable to seal type transit\n")
        init = jout(a.vault("vault-0", "operator", "init", "-format=json"))
        assert (init["recovery_keys_shares"], init["recovery_keys_threshold"]) == (5, 3)
        assert init["unseal_keys_hex"] == [] and len(init["recovery_keys_hex"]) == 5
        st = status(a, "vault-0")
        assert (st["sealed"], st["recovery_seal"], st["n"], st["t"]) == (False, True, 5, 3)


def test_autoseal_restore_with_the_same_transit_key_stays_unsealed(tmp_path):
    """§1.4 row "Auto-unseal, same KMS key": both clusters seal with the same transit server
    and key. After the forced restore the pods reload the root key with their seal and stay
    unsealed; the cluster_id, recovery configuration (3/2, not the target's 5/3), tokens and
    data are the source's."""
    with server(tmp_path, "a", seal_type="transit") as a, \
            server(tmp_path, "b", seal_type="transit", restore_apply_seconds=1.0) as b:
        a_init, snap = autoseal_source(a)
        a_id = a.vc.cluster_id("vault-0")
        b_init = autoseal_bootstrap(b, 5, 3)
        act = active_pod(b)
        r = restore(b, act, snap, "-force")
        assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
        for p in ("vault-0", "vault-1", "vault-2"):
            wait_for(lambda: status(b, p).get("cluster_id") == a_id, what="%s on the source" % p)
        for p in ("vault-0", "vault-1", "vault-2"):
            st = status(b, p)
            assert (st["sealed"], st["n"], st["t"], st["recovery_seal"]) == (False, 3, 2, True)
        assert "core: done reloading root key using auto seal" in b.vc.model.node(act).log[-2:][-1]
        act = active_pod(b)
        r = b.vault(act, "read", "-field=v", "cubbyhole/app",
                    extra_env={"VAULT_TOKEN": a_init["root_token"]})
        assert (r.returncode, r.stdout) == (0, b"from-source")
        r = b.vault(act, "read", "cubbyhole/app", extra_env={"VAULT_TOKEN": b_init["root_token"]})
        assert r.returncode == 2 and "permission denied" in r.stderr.decode()
        # A restarted pod unseals itself again: its seal still opens the stored keys.
        b.delete_pod("vault-2")
        wait_for(lambda: not status(b, "vault-2")["sealed"], what="vault-2 unsealed again")
        assert status(b, "vault-2")["cluster_id"] == a_id


def test_autoseal_restore_with_another_transit_key_seals_until_the_seal_can_decrypt(tmp_path):
    """§1.4 row "Auto-unseal, different or unreachable KMS key": the target seals with another
    key of the same transit server. After the forced restore every pod seals ("failed to get
    stored keys"), a restart with the same seal stays sealed, and a pod restarted with the
    source's key unseals with the source's cluster_id and data."""
    with server(tmp_path, "a", seal_type="transit") as a, \
            server(tmp_path, "b", seal_type="transit", restore_apply_seconds=0.5) as b:
        a_init, snap = autoseal_source(a)
        a_id = a.vc.cluster_id("vault-0")
        transit_seal(b, "dr-key")
        autoseal_bootstrap(b, 3, 2)
        b_id = b.vc.cluster_id("vault-0")
        act = active_pod(b)
        r = restore(b, act, snap)  # another key: the sealed hashes do not open
        assert r.returncode == 2 and "different autoseal key" in r.stderr.decode()
        assert restore(b, act, snap, "-force").returncode == 0
        for p in ("vault-0", "vault-1", "vault-2"):
            wait_for(lambda: status(b, p)["sealed"], what="%s sealed" % p)
        assert any("raft snapshot restore failed to get stored keys" in line
                   for line in b.vc.model.node(act).log)
        b.delete_pod("vault-1")
        st = status(b, "vault-1")
        assert (st["sealed"], st["initialized"]) == (True, True)
        assert any("failed to decrypt keys from storage" in line
                   for line in b.vc.model.node("vault-1").log[-3:])
        transit_seal(b, "autounseal")  # the source's key: the seal stanza the facts ask for
        for p in ("vault-0", "vault-1", "vault-2"):
            b.delete_pod(p)
        for p in ("vault-0", "vault-1", "vault-2"):
            wait_for(lambda: not status(b, p)["sealed"], what="%s unsealed" % p)
            assert status(b, p)["cluster_id"] == a_id != b_id
        act = active_pod(b)
        r = b.vault(act, "read", "-field=v", "cubbyhole/app",
                    extra_env={"VAULT_TOKEN": a_init["root_token"]})
        assert (r.returncode, r.stdout) == (0, b"from-source")
