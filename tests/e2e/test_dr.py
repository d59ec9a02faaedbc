"""Disaster recovery end to end (issue 22): snapshots that describe themselves (FILE.json) and
`snapshot restore FILE --new-cluster --keys-file SOURCE_KEYS` into a freshly installed cluster,
against the fake (docs/disaster-recovery.md §1, §4-5). The source is the release in
namespace `vault`; the targets are other releases of the same fake API server (scratch
namespaces, as in a restore drill): `dr` (the round trip), `drill` (dry runs, refusals),
`other` (a third cluster, initialized: a plain restore stops before changing anything)."""
import json
import os
import re
import shutil
import stat

import pytest

from conftest import run_plugin
from harness import FakeCluster

FAST = ("--vault-opt", "stabilization_seconds=0.5", "--vault-opt", "election_seconds=0.3",
        "--vault-opt", "restore_apply_seconds=1")
TOKEN_SCRIPT = 'IFS= read -r VAULT_TOKEN && export VAULT_TOKEN && exec "$0" "$@"'
P = "kubectl vault-ha"


def plugin(fake, *args, token=None, timeout=240):
    return run_plugin(list(args), kubeconfig=fake.kubeconfig, timeout=timeout,
                      env={"VAULT_TOKEN": token} if token else None)


def vault(fake, ns, token, *args, cli="vault"):
    """The Vault CLI in a pod of namespace ns through the plugin's exec, the token on stdin."""
    return run_plugin(["-n", ns, "exec", "vault-openbao-0" if cli == "bao" else "vault-0", "-i",
                       "--", "sh", "-c", TOKEN_SCRIPT, cli] + list(args),
                      kubeconfig=fake.kubeconfig, input=token + "\n", timeout=120)


def cluster_ids(fake, ns):
    return set(fake.control("cluster-ids", {"namespace": ns})["cluster_ids"].values())


class Source:
    """The fake with the source bootstrapped, a secret written and a snapshot saved."""

    def __init__(self, fake, d, ns="vault", cli="vault"):
        self.fake, self.dir, self.ns, self.cli = fake, d, ns, cli
        self.keys_file = str(d / "source-keys.json")
        r = plugin(fake, "-n", ns, "bootstrap", "--output", self.keys_file)
        assert r.returncode == 0, r.stderr
        with open(self.keys_file) as f:
            self.keys = json.load(f)
        self.root = self.keys["root_token"]
        r = vault(fake, ns, self.root, "write", "cubbyhole/app", "v=from-source", cli=cli)
        assert r.returncode == 0, r.stderr
        self.snap = str(d / "source.snap")
        r = plugin(fake, "-n", ns, "snapshot", "save", self.snap, token=self.root)
        assert r.returncode == 0, r.stderr
        self.save_err = r.stderr
        (self.cluster_id,) = cluster_ids(fake, ns)

    def key_lines(self, d):
        """The source's keys as bare lines (no record of shares and threshold)."""
        path = d / "source-keys.txt"
        path.write_text("\n".join(self.keys["unseal_keys_b64"]) + "\n")
        os.chmod(path, 0o600)
        return str(path)

    def copy(self, d, meta=True, edit=None):
        """A copy of the snapshot in d, with its metadata (changed by edit) or without."""
        snap = str(d / "copy.snap")
        shutil.copyfile(self.snap, snap)
        if meta:
            with open(self.snap + ".json") as f:
                m = json.load(f)
            if edit:
                edit(m)
            with open(snap + ".json", "w") as f:
                json.dump(m, f)
        return snap


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    d = tmp_path_factory.mktemp("dr")
    with FakeCluster(d / "fake", *FAST, "--second-vault", "dr", "--second-vault", "drill",
                     "--second-vault", "other") as fake:
        yield Source(fake, d)


def restore_new(fake, ns, snap, keys_file, *extra):
    return plugin(fake, "-n", ns, "snapshot", "restore", snap, "--new-cluster", "--keys-file",
                  keys_file, *extra)


def test_save_writes_metadata_and_verify_shows_it(src):
    path = src.snap + ".json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [n for n in os.listdir(src.dir) if ".vault-ha-" in n]
    with open(path) as f:
        m = json.load(f)
    with open(src.snap, "rb") as f:
        data = f.read()
    import hashlib
    assert m["format"] == 1 and m["product"] == "vault" and m["version"] == "1.21.2"
    assert m["clusterId"] == src.cluster_id
    assert (m["sealType"], m["shares"], m["threshold"]) == ("shamir", 5, 3)
    assert m["raftIndex"] > 0 and m["raftTerm"] > 0
    assert (m["bytes"], m["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert (m["namespace"], m["pod"]) == ("vault", "vault-0")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", m["savedAt"])
    assert "Wrote %s.json: cluster_id %s, vault 1.21.2, seal shamir 5/3.\n" % (
        src.snap, src.cluster_id) in src.save_err
    r = plugin(src.fake, "snapshot", "verify", src.snap)
    assert r.returncode == 0, r.stderr
    assert ("metadata (%s.json): matches this file\n"
            "  source cluster_id   %s (%s)\n"
            "  source version      vault 1.21.2\n"
            "  seal                shamir, 5 shares, threshold 3\n"
            "  raft index, term    %d, %d\n"
            "  saved               %s from vault/vault-0\n"
            % (src.snap, src.cluster_id, m["clusterName"], m["raftIndex"], m["raftTerm"],
               m["savedAt"])) in r.stdout
    r = plugin(src.fake, "-o", "json", "snapshot", "verify", src.snap)
    assert json.loads(r.stdout)["metadata"] == m


def test_round_trip_into_a_fresh_cluster(src):
    """Deliver 1: every step says what it waited for and how long; afterwards the secret reads
    back with the source's root token and every pod has the source's cluster_id. The restore ran
    in the active pod only, and no secret was in any exec command line."""
    fake = src.fake
    # With the source's root token (VAULT_TOKEN) the end waits for healthy raft voters.
    r = plugin(fake, "-n", "dr", "snapshot", "restore", src.snap, "--new-cluster", "--keys-file",
               src.keys_file, "--yes", token=src.root)
    assert r.returncode == 0, r.stderr
    err = r.stderr
    steps = re.findall(r"^Step (\d)/8 (.*)\.$", err, re.M)
    assert [s[1] for s in steps] == [
        "check that every pod runs and is uninitialized, and what the snapshot's metadata allows",
        "initialize vault-0 with 5 shares, threshold 3 (temporary keys and root token, in locked "
        "memory only)",
        "unseal it, join and unseal the other pods with the temporary keys, wait until every pod "
        "is a voter",
        "restore the snapshot with -force in the active pod, against its own listener",
        "wait until Vault has applied the snapshot: every pod seals itself",
        "wipe the temporary keys and root token (they opened nothing any more)",
        "unseal every pod with the source's keys and wait until every pod is a healthy raft "
        "voter",
        "check that every pod reports the source's cluster_id"]
    step7 = err[err.index("Step 7/8"):err.index("Step 8/8")]
    assert "vault-0: raft voter\nvault-1: raft voter\nvault-2: raft voter\n" in step7, err
    assert len(re.findall(r"^  done in \d+\.\d s\.$", err, re.M)) == 8
    m = re.search(r"^waiting for Vault to apply the snapshot\.\.\. every pod sealed itself: "
                  r"the snapshot is applied \((\d+\.\d) s\)$", err, re.M)
    # The fake applies 1 s after accepting (restore_apply_seconds): polled, not assumed.
    assert m and float(m.group(1)) >= 0.5, err
    assert ("Every pod reports the source's cluster_id %s.\n" % src.cluster_id) in err
    assert re.search(r"^Restore of %s complete in \d+\.\d s: the cluster runs the source's data; "
                     r"its unseal keys and tokens are the source's, cluster_id %s\.$"
                     % (re.escape(src.snap), src.cluster_id), err, re.M)
    assert cluster_ids(fake, "dr") == {src.cluster_id}
    r = vault(fake, "dr", src.root, "read", "-field=v", "cubbyhole/app")
    assert (r.returncode, r.stdout) == (0, "from-source")
    # The restore ran where the leader was, never on a standby (a 307 loses the body).
    execs = [e for e in fake.exec_log() if e["namespace"] == "dr"]
    restores = [e for e in execs if "restore" in e["command"]]
    assert len(restores) == 1
    m = re.search(r"^Restoring through (\S+), the active pod\.$", err, re.M)
    leaders = fake.control("leaders", {"namespace": "dr"})["leaders"]
    assert m and restores[0]["pod"] == m.group(1) == leaders[0]["pod"]
    assert len(leaders) == 2  # one election after the source's keys unsealed the pods
    secrets = [src.root] + src.keys["unseal_keys_b64"] + src.keys["unseal_keys_hex"]
    assert not any(s in json.dumps(e) for e in execs for s in secrets)
    # Running it again stops at the check: the cluster is initialized now.
    r = restore_new(fake, "dr", src.snap, src.keys_file, "--yes")
    assert r.returncode == 1
    assert ("%s: vault-0 is initialized: --new-cluster restores only into a freshly installed, "
            "uninitialized cluster" % P) in r.stderr
    assert ("Stopped at step 1 of 8. Nothing was changed. Next: fix the above, then run `%s -n dr "
            "snapshot restore %s --new-cluster --keys-file %s` again.\n"
            % (P, src.snap, src.keys_file)) in r.stderr


def test_dry_run_prints_the_plan_and_changes_nothing(src):
    before = len(src.fake.exec_log())
    r = restore_new(src.fake, "drill", src.snap, src.keys_file, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "Plan: restore %s (raft index %d, term %d, cluster_id %s) into drill/vault:\n"
        "  1/8 check that every pod runs and is uninitialized, and what the snapshot's metadata "
        "allows\n"
        "  2/8 initialize vault-0 with 5 shares, threshold 3 (temporary keys and root token, in "
        "locked memory only)\n"
        "  3/8 unseal it, join and unseal the other pods with the temporary keys, wait until "
        "every pod is a voter\n"
        "  4/8 restore the snapshot with -force in the active pod, against its own listener\n"
        "  5/8 wait until Vault has applied the snapshot: every pod seals itself\n"
        "  6/8 wipe the temporary keys and root token (they opened nothing any more)\n"
        "  7/8 unseal every pod with the source's keys and wait until every pod reports "
        "unsealed (without the source's root token, raft voters and health are not checked)\n"
        "  8/8 check that every pod reports the source's cluster_id\n"
        "Dry run: nothing was changed.\n" % (src.snap, *index_term(src), src.cluster_id))
    assert cluster_ids(src.fake, "drill") == {""}
    # The dry run reads (over pods/proxy where RBAC allows it, so maybe with no exec at all)
    # and runs nothing that changes the cluster.
    cmds = [e["command"] for e in src.fake.exec_log()[before:]]
    assert all("init" not in c and "restore" not in c for c in cmds), cmds
    # Without metadata, init's JSON as the keys file still tells the source's shares and
    # threshold; bare key lines do not: then the pods are restarted before the source's keys.
    snap = src.copy(src.dir, meta=False)
    r = restore_new(src.fake, "drill", snap, src.keys_file, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "  2/8 initialize vault-0 with 5 shares, threshold 3" in r.stdout
    assert "restart" not in r.stdout
    # The note says what the plan does: no restart here.
    assert ("%s has no metadata (%s.json): the source's version, seal and cluster_id cannot be "
            "checked.\n" % (snap, snap)) in r.stderr
    r = restore_new(src.fake, "drill", snap, src.key_lines(src.dir), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert ("%s has no metadata (%s.json): the source's version, seal and cluster_id cannot be "
            "checked, and the pods are restarted before the source's keys unseal them.\n"
            % (snap, snap)) in r.stderr
    assert "  2/9 initialize vault-0 with 1 share, threshold 1" in r.stdout
    assert ("  7/9 restart every pod, since the source's shares and threshold are not known (no "
            "metadata): a sealed pod keeps the old seal configuration in memory\n") in r.stdout


def index_term(src):
    with open(src.snap + ".json") as f:
        m = json.load(f)
    return m["raftIndex"], m["raftTerm"]


def test_metadata_is_enforced(src, tmp_path):
    """Deliver 2: an older target Vault, the other seal kind, a file that is not the one
    described, too few source keys: refused before anything changes."""
    snap = src.copy(tmp_path, edit=lambda m: m.update(version="1.99.0"))
    r = restore_new(src.fake, "drill", snap, src.keys_file, "--dry-run")
    assert r.returncode == 1
    assert ("%s: the snapshot comes from vault 1.99.0 and this cluster runs 1.21.2, an older "
            "version: a restore cannot downgrade; upgrade this cluster to 1.99.0 or later first\n"
            "The plan cannot start. Nothing was changed.\n" % P) in r.stderr
    r = plugin(src.fake, "snapshot", "restore", snap, "--yes", token=src.root)
    assert r.returncode == 1
    assert "an older version: a restore cannot downgrade" in r.stderr
    assert "Nothing was changed.\n" in r.stderr

    snap = src.copy(tmp_path, edit=lambda m: m.update(sealType="awskms"))
    r = restore_new(src.fake, "drill", snap, src.keys_file, "--dry-run")
    assert r.returncode == 1
    assert ("%s: the snapshot comes from a cluster sealed with awskms and this cluster uses "
            "shamir: its pods could not unseal the restored data (they would need the source's "
            "KMS or transit key)" % P) in r.stderr

    snap = src.copy(tmp_path, edit=lambda m: m.update(sha256="0" * 64))
    r = restore_new(src.fake, "drill", snap, src.keys_file, "--dry-run")
    assert r.returncode == 1
    assert "the snapshot is not the file its metadata describes" in r.stderr
    r = plugin(src.fake, "snapshot", "verify", snap)
    assert r.returncode == 1 and "the .json belongs to another snapshot" in r.stderr

    snap = src.copy(tmp_path, edit=lambda m: m.update(version="1.21.2\x1b[2J"))
    r = plugin(src.fake, "snapshot", "verify", snap)
    assert r.returncode == 1 and "\"version\" holds a character not allowed there" in r.stderr

    two = tmp_path / "two-keys"
    two.write_text("\n".join(src.keys["unseal_keys_b64"][:2]) + "\n")
    os.chmod(two, 0o600)
    r = restore_new(src.fake, "drill", src.snap, str(two), "--dry-run")
    assert r.returncode == 1
    assert ("%s: the keys file holds 2 unseal keys but the source needs 3: after the restore only "
            "the source's keys unseal the cluster\n" % P) in r.stderr
    four = tmp_path / "four-keys"
    four.write_text("\n".join(src.keys["unseal_keys_b64"][:4]) + "\n")
    os.chmod(four, 0o600)
    r = restore_new(src.fake, "drill", src.snap, str(four), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert ("warning: the keys file holds 4 keys, the snapshot's cluster had 5 shares (threshold "
            "3)\n") in r.stderr
    assert cluster_ids(src.fake, "drill") == {""}


def test_plain_restore_into_another_cluster_stops_then_force_with_the_source_keys(src, tmp_path):
    """Deliver 3: into a third, initialized cluster a plain restore stops before changing
    anything (from the metadata's cluster_id, or from Vault's 400 without metadata); --force
    needs the source's keys, and ends with them."""
    fake = src.fake
    keys = tmp_path / "other-keys.json"
    r = plugin(fake, "-n", "other", "bootstrap", "--output", str(keys))
    assert r.returncode == 0, r.stderr
    other_root = json.loads(keys.read_text())["root_token"]
    (other_id,) = cluster_ids(fake, "other")
    lines = ("Restoring it would replace this cluster's data, and its unseal keys and root token "
             "with the source's. Nothing was changed.\n"
             "  Into a freshly installed cluster: %s snapshot restore {f} --new-cluster "
             "--keys-file SOURCE_KEYS\n"
             "  Over this cluster anyway: %s snapshot restore {f} --force --keys-file "
             "SOURCE_KEYS (asks you to type the StatefulSet's name; the source's keys unseal it "
             "afterwards)\n" % (P, P))
    r = plugin(fake, "-n", "other", "snapshot", "restore", src.snap, "--yes", token=other_root)
    assert r.returncode == 1
    with open(src.snap + ".json") as f:
        m = json.load(f)
    assert r.stderr.endswith(
        "%s: the snapshot comes from another cluster: its metadata says cluster_id %s (saved %s "
        "from vault/vault-0), this cluster is %s.\n" % (P, src.cluster_id, m["savedAt"], other_id)
        + lines.format(f=src.snap)), r.stderr
    bare = src.copy(tmp_path, meta=False)
    r = plugin(fake, "-n", "other", "snapshot", "restore", bare, "--yes", token=other_root)
    assert r.returncode == 1
    assert ("%s: the snapshot comes from another cluster: Vault refused it (could not verify hash "
            "file, possibly the snapshot is using a different set of unseal keys; use the "
            "snapshot-force API to bypass this check): it was sealed with other unseal keys.\n"
            % P + lines.format(f=bare)) in r.stderr
    r = plugin(fake, "-n", "other", "snapshot", "restore", src.snap, "--yes", "--force",
               token=other_root)
    assert r.returncode == 64
    assert ("%s: --force needs --keys-file SOURCE_KEYS: after a restore of another cluster's "
            "snapshot every pod seals and only the source's unseal keys open it. Nothing was "
            "changed.\n" % P) in r.stderr
    assert cluster_ids(fake, "other") == {other_id}
    r = vault(fake, "other", other_root, "operator", "raft", "list-peers")
    assert r.returncode == 0, r.stderr

    r = plugin(fake, "-n", "other", "snapshot", "restore", src.snap, "--yes", "--force",
               "--keys-file", src.keys_file, token=other_root)
    assert r.returncode == 0, r.stderr
    assert re.findall(r"^Step \d/3 [^\n]*", r.stderr, re.M) == [
        "Step 1/3 wait until Vault has applied the snapshot: every pod seals itself.",
        "Step 2/3 unseal every pod with the source's keys and wait until every pod reports "
        "unsealed (without the source's root token, raft voters and health are not checked).",
        "Step 3/3 check that every pod reports the source's cluster_id."]
    assert cluster_ids(fake, "other") == {src.cluster_id}
    r = vault(fake, "other", src.root, "read", "-field=v", "cubbyhole/app")
    assert (r.returncode, r.stdout) == (0, "from-source")
    r = vault(fake, "other", other_root, "operator", "raft", "list-peers")
    assert r.returncode == 2 and "permission denied" in r.stderr


def test_a_pod_that_never_comes_back_stops_with_the_next_command(make_fake, tmp_path):
    """Without metadata the pods are restarted after the apply; here they never come back
    (within --timeout): the run stops at that step, says the snapshot is applied
    and which command comes next."""
    fake = make_fake(*FAST, "--second-vault", "dr")
    src = Source(fake, tmp_path)
    snap = src.copy(tmp_path, meta=False)
    fake.control("settings", {"restart_seconds": 3600})  # a deleted pod stays away
    keys = src.key_lines(tmp_path)
    r = restore_new(fake, "dr", snap, keys, "--yes", "--timeout", "8s")
    assert r.returncode == 1, r.stderr
    assert "Step 7/9 restart every pod" in r.stderr
    assert re.search(r"^%s: gave up after 8s waiting for vault-0 to run again" % P, r.stderr,
                     re.M), r.stderr
    assert r.stderr.endswith(
        "Stopped at step 7 of 9. The snapshot is applied: the cluster holds the source's data and "
        "only the source's keys open it. Next: once every pod runs again (kubectl -n dr get "
        "pods vault-0 vault-1 vault-2), unseal them: `%s -n dr unseal --keys-file %s`.\n"
        % (P, keys))


def test_openbao_round_trip(make_fake, tmp_path):
    """Deliver 4: OpenBao 2.6 (uncompressed snapshots, a harmless close error on restore)."""
    fake = make_fake(*FAST, "--openbao", "--second-vault", "dr")
    src = Source(fake, tmp_path, ns="vault", cli="bao")
    with open(src.snap + ".json") as f:
        m = json.load(f)
    assert (m["product"], m["version"]) == ("openbao", "2.6.2")
    r = restore_new(fake, "dr", src.snap, src.keys_file, "--yes")
    assert r.returncode == 0, r.stderr
    assert "file already closed" not in r.stderr
    assert cluster_ids(fake, "dr") == {src.cluster_id}
    r = vault(fake, "dr", src.root, "read", "-field=v", "cubbyhole/app", cli="bao")
    assert (r.returncode, r.stdout) == (0, "from-source")
    # The same restore run by hand in the pod (the cluster is the source's now: no -force)
    # succeeds with that line on stderr: the plugin's run above met it and judged by the exit
    # code alone.
    with open(src.snap, "rb") as f:
        data = f.read()
    # In the active pod (a standby's 307 loses the body); the pod's own files in the fake: the
    # token where the CLI looks for it, the snapshot in /tmp.
    active = fake.control("leaders", {"namespace": "dr"})["leaders"][-1]["pod"]
    root = os.path.join(fake.state_dir, "pods", "dr", active)
    r = fake.kubectl("exec", "-n", "dr", active, "--", "true")  # the pod's files exist from here
    assert r.returncode == 0, r.stderr
    with open(os.path.join(root, "home", ".vault-token"), "w") as f:
        f.write(src.root + "\n")
    with open(os.path.join(root, "fs", "tmp", "again.snap"), "wb") as f:
        f.write(data)
    r = fake.kubectl("exec", "-n", "dr", active, "--", "bao", "operator", "raft", "snapshot",
                     "restore", "/tmp/again.snap")
    assert r.returncode == 0, r.stderr
    assert r.stderr.endswith("file already closed\n"), r.stderr


def test_save_replaces_the_metadata_of_the_old_snapshot(src, tmp_path):
    """A FILE.json left from the snapshot that FILE was before is removed before the new
    snapshot takes its place: when the new metadata cannot be written (here its temporary
    file's name is too long for the file system, while the snapshot's own fits), FILE has no
    metadata instead of one that describes another file."""
    path = str(tmp_path / ("s" * 231 + ".snap"))  # 236 bytes: .NAME.vault-ha-XXXXXX fits
    shutil.copyfile(src.snap + ".json", path + ".json")  # describes another file
    os.chmod(path + ".json", 0o600)
    r = plugin(src.fake, "snapshot", "save", path, token=src.root)
    assert r.returncode == 0, r.stderr
    assert ("%s: warning: the snapshot is saved, but not its metadata (cannot create a temporary "
            "file beside %s.json: File name too long): a restore cannot check its source's "
            "version, seal and cluster_id\n" % (P, path)) in r.stderr
    assert not os.path.exists(path + ".json")
    r = plugin(src.fake, "snapshot", "verify", path)
    assert r.returncode == 0, r.stderr
    assert "metadata: none (%s.json is missing)\n" % path in r.stdout


def test_force_without_metadata_over_the_same_cluster(make_fake, tmp_path):
    """A forced restore of the cluster's own snapshot without its FILE.json: no pod seals, so
    once every pod stays unsealed with the cluster's cluster_id past the raft index it had, the
    restore counts as applied and the restart and the unseal are skipped (the data is the
    snapshot's again). No pod is deleted."""
    fake = make_fake(*FAST)
    src = Source(fake, tmp_path)
    snap = src.copy(tmp_path, meta=False)
    r = vault(fake, "vault", src.root, "write", "cubbyhole/app", "v=after-the-snapshot")
    assert r.returncode == 0, r.stderr
    before = json.loads(vault(fake, "vault", src.root, "status", "-format=json").stdout)
    r = plugin(fake, "snapshot", "restore", snap, "--yes", "--force", "--keys-file",
               src.key_lines(tmp_path), token=src.root)
    assert r.returncode == 0, r.stderr
    skipped = ": skipped, no pod sealed (the snapshot was this cluster's own)."
    assert re.findall(r"^Step \d/4 [^\n]*", r.stderr, re.M) == [
        "Step 1/4 wait until Vault has applied the snapshot: every pod seals itself.",
        "Step 2/4 restart every pod, since the source's shares and threshold are not known (no "
        "metadata): a sealed pod keeps the old seal configuration in memory" + skipped,
        "Step 3/4 unseal every pod with the source's keys and wait until every pod reports "
        "unsealed (without the source's root token, raft voters and health are not checked)"
        + skipped,
        "Step 4/4 check that every pod reports the source's cluster_id."]
    # (The wait's line is broken by its progress lines: the last one says how it ended.)
    assert re.search(r"every pod stayed unsealed with this cluster's cluster_id past raft index "
                     r"%d: the snapshot was this cluster's own \(\d+\.\d s\)$"
                     % before["raft_applied_index"], r.stderr, re.M), r.stderr
    assert re.search(r"^Restore of %s complete in \d+\.\d s: the snapshot was this cluster's own "
                     r"\(cluster_id %s\): every pod stayed unsealed, its unseal keys and tokens "
                     r"are unchanged\.$" % (re.escape(snap), src.cluster_id), r.stderr, re.M)
    r = vault(fake, "vault", src.root, "read", "-field=v", "cubbyhole/app")
    assert (r.returncode, r.stdout) == (0, "from-source")
    assert cluster_ids(fake, "vault") == {src.cluster_id}
    assert not [e for e in fake.audit_log() if e["method"] == "DELETE" and "/pods/" in e["uri"]]


def test_the_restore_runs_on_the_leader_not_the_first_pod(make_fake, tmp_path):
    """The restore goes to the active pod even when that is not the pod that was initialized:
    here the leader steps down once the third voter joins (the fake's step_down_at_voters), so
    a standby leads when the restore starts. A 307 from vault-0 would lose the body."""
    fake = make_fake(*FAST, "--vault-opt", "step_down_at_voters=3", "--second-vault", "dr")
    src = Source(fake, tmp_path)
    r = restore_new(fake, "dr", src.snap, src.keys_file, "--yes")
    assert r.returncode == 0, r.stderr
    leaders = fake.control("leaders", {"namespace": "dr"})["leaders"]
    assert leaders[0]["pod"] == "vault-0" and leaders[1]["pod"] != "vault-0", leaders
    m = re.search(r"^Restoring through (\S+), the active pod\.$", r.stderr, re.M)
    assert m and m.group(1) == leaders[1]["pod"], r.stderr
    restores = [e for e in fake.exec_log() if e["namespace"] == "dr" and "restore" in e["command"]]
    assert [e["pod"] for e in restores] == [leaders[1]["pod"]]
    assert cluster_ids(fake, "dr") == {src.cluster_id}


def test_force_over_another_cluster_asks_to_type_its_name(make_fake, tmp_path):
    """Deliver 3's typed confirmation on a terminal (README: destructive commands ask to type
    the StatefulSet's name there; --yes, for scripts, skips it): another name changes nothing;
    the name goes on, to the end with the source's keys."""
    import shlex
    import shutil as sh
    if sh.which("tmux") is None:
        pytest.skip("tmux is installed by make deps")
    from conftest import BIN
    from test_interactive import Tmux
    fake = make_fake(*FAST, "--second-vault", "other")
    src = Source(fake, tmp_path)
    keys = tmp_path / "other-keys.json"
    r = plugin(fake, "-n", "other", "bootstrap", "--output", str(keys))
    assert r.returncode == 0, r.stderr
    (other_id,) = cluster_ids(fake, "other")
    token_file = tmp_path / "other.token"
    token_file.write_text(json.loads(keys.read_text())["root_token"] + "\n")
    os.chmod(token_file, 0o600)
    line = ("env -u NO_COLOR HOME=/nonexistent KUBECONFIG=%s %s -n other snapshot restore %s "
            "--force --keys-file %s --token-file %s; echo EXIT=$?; sleep 60"
            % tuple(shlex.quote(str(x)) for x in (fake.kubeconfig, BIN, src.snap, src.keys_file,
                                                   token_file)))
    prompt = "".join((
        "Restoring %s over other/vault replaces its data, unseal keys and root token with the "
        "snapshot's source's: every pod seals and only SOURCE_KEYS open it again. This cannot be "
        "undone. Type the StatefulSet's name (vault) to go on:" % src.snap).split())
    t = Tmux(tmp_path, line)
    try:
        screen = t.wait_for("to go on:")
        assert prompt in "".join(screen.split()), screen
        t.send("-l", "other")
        t.send("Enter")
        screen = t.wait_for("EXIT=")
        assert "EXIT=1" in screen and '"other" is not vault: nothing was changed' in screen, screen
    finally:
        t.close()
    assert cluster_ids(fake, "other") == {other_id}
    assert not [e for e in fake.exec_log() if e["namespace"] == "other" and
                "restore" in e["command"]]
    t = Tmux(tmp_path, line)
    try:
        t.wait_for("to go on:")
        t.send("-l", "vault")
        t.send("Enter")
        screen = t.wait_for("EXIT=", timeout=240)
        assert "EXIT=0" in screen, screen
    finally:
        t.close()
    assert cluster_ids(fake, "other") == {src.cluster_id}


# ---------------------------------------------------------------- auto-unseal (transit) sources
CM_KEY = "extraconfig-from-values.hcl"


def vault_in(fake, ns, pod, token, *args):
    """The Vault CLI in pod `pod` of namespace ns, the token on stdin."""
    return run_plugin(["-n", ns, "exec", pod, "-i", "--", "sh", "-c", TOKEN_SCRIPT, "vault"]
                      + list(args), kubeconfig=fake.kubeconfig, input=token + "\n", timeout=120)


def seal_statuses(fake, ns):
    """Every pod's `vault status -format=json` (no token needed)."""
    out = {}
    for pod in ("vault-0", "vault-1", "vault-2"):
        r = vault_in(fake, ns, pod, "", "status", "-format=json")
        out[pod] = json.loads(r.stdout)
    return out


def poll(pred, what, timeout=120):
    import time
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.3)


class TransitSource:
    """The source cluster auto-unseals with the fake's transit server and key: init with
    3 recovery shares (threshold 2), the others join and unseal themselves; a secret written
    and a snapshot saved (its metadata says seal transit, 3/2)."""

    def __init__(self, fake, d):
        self.fake, self.dir = fake, d
        self.keys_file = str(d / "transit-keys.json")
        r = plugin(fake, "-n", "vault", "init", "--recovery-shares", "3", "--recovery-threshold",
                   "2", "--output", self.keys_file)
        assert r.returncode == 0, r.stderr
        with open(self.keys_file) as f:
            self.keys = json.load(f)
        assert self.keys["unseal_keys_b64"] == [] and len(self.keys["recovery_keys_b64"]) == 3
        self.root = self.keys["root_token"]

        def active():  # init unsealed vault-0 (its seal); the join needs it elected
            out = vault_in(fake, "vault", "vault-0", "", "status", "-format=json").stdout
            return bool(out) and json.loads(out).get("is_self") is True
        poll(active, "vault-0 active")
        for pod in ("vault-1", "vault-2"):
            r = vault_in(fake, "vault", pod, self.root, "operator", "raft", "join",
                         "http://vault-0.vault-internal:8200")
            assert r.returncode == 0, r.stderr
        r = plugin(fake, "-n", "vault", "status", "--wait-for", "healthy", "--timeout", "120s",
                   token=self.root)
        assert r.returncode == 0, r.stdout + r.stderr
        r = vault(fake, "vault", self.root, "write", "cubbyhole/app", "v=from-transit-source")
        assert r.returncode == 0, r.stderr
        self.snap = str(d / "transit.snap")
        r = plugin(fake, "-n", "vault", "snapshot", "save", self.snap, token=self.root)
        assert r.returncode == 0, r.stderr
        (self.cluster_id,) = cluster_ids(fake, "vault")
        assert "seal transit 3/2.\n" in r.stderr


@pytest.fixture(scope="module")
def transit_src(tmp_path_factory):
    d = tmp_path_factory.mktemp("dr-transit")
    with FakeCluster(d / "fake", *FAST, "--vault-opt", "seal_type=transit", "--second-vault",
                     "dr", "--second-vault", "drkey", "--second-vault", "drbare") as fake:
        yield TransitSource(fake, d)


AUTO_STEPS = [
    "check that every pod runs and is uninitialized, and what the snapshot's metadata allows",
    "initialize vault-0 with 3 recovery shares, threshold 2, as the source; it unseals itself "
    "with its seal (temporary recovery keys and root token, in locked memory only)",
    "join the other pods, which unseal themselves with their seal, wait until every pod is a "
    "voter",
    "restore the snapshot with -force in the active pod, against its own listener",
    "wait until Vault has applied the snapshot: every pod reloads the root key with its seal "
    "and stays unsealed with the source's cluster_id (pods whose seal cannot decrypt the "
    "source's stored keys seal themselves: the run stops there)",
    "wipe the temporary recovery keys and root token (the source's recovery keys and tokens "
    "are the cluster's now)",
    "check that every pod reports the source's cluster_id"]


def test_transit_round_trip_on_the_same_key(transit_src):
    """§1.4 row "Auto-unseal, same KMS key": the new cluster seals with the same transit
    server and key. Init takes the source's recovery shares, the pods unseal themselves, and
    after the forced restore they stay unsealed: no unseal and no restart. The secret reads
    back with the source's root token, cluster_id is the source's, and so is the recovery
    configuration (3/2) every pod reports."""
    src, fake = transit_src, transit_src.fake
    r = restore_new(fake, "dr", src.snap, src.keys_file, "--dry-run")
    assert r.returncode == 0, r.stderr
    with open(src.snap + ".json") as f:
        m = json.load(f)
    assert r.stdout == (
        "Plan: restore %s (raft index %d, term %d, cluster_id %s) into dr/vault:\n"
        % (src.snap, m["raftIndex"], m["raftTerm"], src.cluster_id)
        + "".join("  %d/7 %s\n" % (i + 1, s) for i, s in enumerate(AUTO_STEPS))
        + "Dry run: nothing was changed.\n")
    # The seal kinds must match (FILE.json's seal type; without it, the keys file's kind).
    d = src.dir / "kinds"
    d.mkdir(exist_ok=True)
    snap = str(d / "shamir.snap")
    shutil.copyfile(src.snap, snap)
    with open(snap + ".json", "w") as f:
        json.dump(dict(m, sealType="shamir"), f)
    r = restore_new(fake, "dr", snap, src.keys_file, "--dry-run")
    assert r.returncode == 1
    assert ("%s: the snapshot comes from a cluster sealed with shamir and this cluster uses "
            "transit" % P) in r.stderr
    os.unlink(snap + ".json")
    lines = d / "unseal-keys.txt"
    lines.write_text("\n".join(src.keys["recovery_keys_b64"]) + "\n")
    os.chmod(lines, 0o600)
    r = restore_new(fake, "dr", snap, str(lines), "--dry-run")
    assert r.returncode == 1
    assert ("%s: this cluster auto-unseals (seal transit) and the keys file holds the unseal keys "
            "of a Shamir source: its pods could not unseal the restored data; install this "
            "cluster with a Shamir seal, restore, then migrate the seal\n"
            "The plan cannot start. Nothing was changed.\n" % P) in r.stderr
    r = restore_new(fake, "dr", snap, src.keys_file, "--dry-run")  # init's JSON: recovery keys
    assert r.returncode == 0, r.stderr
    assert "  2/7 initialize vault-0 with 3 recovery shares, threshold 2" in r.stdout
    assert cluster_ids(fake, "dr") == {""}
    before = len(fake.exec_log())
    r = plugin(fake, "-n", "dr", "snapshot", "restore", src.snap, "--new-cluster", "--keys-file",
               src.keys_file, "--yes", token=src.root)
    assert r.returncode == 0, r.stderr
    err = r.stderr
    assert [s[1] for s in re.findall(r"^Step (\d)/7 (.*)\.$", err, re.M)] == AUTO_STEPS, err
    assert len(re.findall(r"^  done in \d+\.\d s\.$", err, re.M)) == 7
    assert re.search(r"^waiting for Vault to apply the snapshot\.\.\. every pod reloaded the root "
                     r"key with its seal and stayed unsealed with the source's cluster_id "
                     r"\(\d+\.\d s\)$", err, re.M), err
    assert ("Every pod reports the source's cluster_id %s.\n" % src.cluster_id) in err
    assert err.endswith(
        "Restore of %s complete in %s s: the cluster runs the source's data, cluster_id %s; its "
        "pods unseal themselves with their seal transit (the source's KMS or transit key), and "
        "its recovery keys and tokens are the source's now.\n"
        % (src.snap, re.search(r"complete in (\d+\.\d) s", err).group(1), src.cluster_id)), err
    assert cluster_ids(fake, "dr") == {src.cluster_id}
    r = vault(fake, "dr", src.root, "read", "-field=v", "cubbyhole/app")
    assert (r.returncode, r.stdout) == (0, "from-transit-source")
    for pod, st in seal_statuses(fake, "dr").items():
        assert (st["sealed"], st["type"], st["recovery_seal"], st["n"], st["t"]) == (
            False, "transit", True, 3, 2), (pod, st)
    execs = [e for e in fake.exec_log()[before:] if e["namespace"] == "dr"]
    inits = [e["command"] for e in execs if "init" in e["command"]]
    assert len(inits) == 1 and "-recovery-shares=3" in inits[0] and \
        "-recovery-threshold=2" in inits[0] and "-key-shares" not in inits[0], inits
    assert not [e for e in execs if "unseal" in e["command"]]
    assert not [e for e in fake.audit_log() if e["method"] == "DELETE" and "/pods/" in e["uri"]]
    secrets = [src.root] + src.keys["recovery_keys_b64"] + src.keys["recovery_keys_hex"]
    assert not any(s in json.dumps(e) for e in execs for s in secrets)


def test_transit_without_metadata_goes_by_the_keys_file(transit_src, tmp_path):
    """Without FILE.json, init's JSON with recovery keys says the source auto-unseals and its
    recovery shares; the apply shows as every pod unsealed with another cluster_id than the
    temporary cluster's."""
    src, fake = transit_src, transit_src.fake
    snap = str(tmp_path / "bare.snap")
    shutil.copyfile(src.snap, snap)
    r = plugin(fake, "-n", "drbare", "snapshot", "restore", snap, "--new-cluster", "--keys-file",
               src.keys_file, "--yes")
    assert r.returncode == 0, r.stderr
    assert [s[1] for s in re.findall(r"^Step (\d)/7 (.*)\.$", r.stderr, re.M)] == AUTO_STEPS
    assert re.search(r"^Restore of %s complete in \d+\.\d s: the cluster runs the source's "
                     r"data, cluster_id %s; " % (re.escape(snap), src.cluster_id), r.stderr,
                     re.M), r.stderr
    assert cluster_ids(fake, "drbare") == {src.cluster_id}
    r = vault(fake, "drbare", src.root, "read", "-field=v", "cubbyhole/app")
    assert (r.returncode, r.stdout) == (0, "from-transit-source")


def test_transit_into_another_key_stops_with_the_next_step(transit_src):
    """§1.4 row "Auto-unseal, different or unreachable KMS key": the new cluster's seal uses
    another key of the transit server. After the restore every pod seals itself; the run stops
    there, saying where the cluster stands and what to do: give the pods the source's seal
    stanza and restart them. Doing that, the pods unseal themselves with the source's data."""
    src, fake = transit_src, transit_src.fake
    tr = fake.control("transit", {"namespace": "drkey", "add_key": "dr-key"})
    base = json.loads(fake.kubectl("get", "configmap", "vault-config", "-n", "drkey", "-o",
                                   "json").stdout)["data"][CM_KEY]
    assert 'key_name = "autounseal"' in base
    fake.control("configmap", {"namespace": "drkey", "data": {
        CM_KEY: base.replace('key_name = "autounseal"', 'key_name = "dr-key"')}})
    restart_all(fake, "drkey", lambda st: st.get("initialized") is False)
    r = plugin(fake, "-n", "drkey", "snapshot", "restore", src.snap, "--new-cluster",
               "--keys-file", src.keys_file, "--yes", token=src.root)
    assert r.returncode == 1, r.stderr
    assert ("%s: every pod sealed itself after the restore: their seal cannot decrypt the "
            "source's stored keys (another KMS or transit key than the source's, or one they "
            "cannot reach)\n" % P) in r.stderr
    assert r.stderr.endswith(
        "Stopped at step 5 of 7. Vault accepted the snapshot; the temporary recovery keys and "
        "root token are wiped. Pods that stay unsealed with the source's cluster_id hold its "
        "data (`%s -n drkey status`). Pods that sealed themselves cannot decrypt the source's "
        "stored keys: only the source's KMS or transit key opens them, and its recovery keys "
        "cannot. Next: give the pods the source's seal stanza (the same KMS or transit key, "
        "reachable from namespace drkey: helm upgrade), then delete them (kubectl -n drkey "
        "delete pod vault-0 vault-1 vault-2; the StatefulSet vault creates them again) so that "
        "they start with it and unseal themselves, then `%s -n drkey status`.\n" % (P, P)), \
        r.stderr
    assert all(st["sealed"] for st in seal_statuses(fake, "drkey").values())
    # The next step, as said: the source's seal stanza, the pods restarted.
    fake.control("configmap", {"namespace": "drkey", "data": {CM_KEY: base}})
    restart_all(fake, "drkey", lambda st: st.get("sealed") is False)
    assert cluster_ids(fake, "drkey") == {src.cluster_id} and tr["key"] == "autounseal"
    r = vault(fake, "drkey", src.root, "read", "-field=v", "cubbyhole/app")
    assert (r.returncode, r.stdout) == (0, "from-transit-source")


def restart_all(fake, ns, ready):
    """Deletes every pod of ns (they start again with the ConfigMap's content now) and waits
    until each answers `vault status` with ready(status)."""
    uids = {}
    for pod in ("vault-0", "vault-1", "vault-2"):
        uids[pod] = fake.kubectl("get", "pod", pod, "-n", ns, "-o",
                                 "jsonpath={.metadata.uid}").stdout
        r = fake.kubectl("delete", "pod", pod, "-n", ns, "--wait=false")
        assert r.returncode == 0, r.stderr

    def back(pod):
        r = fake.kubectl("get", "pod", pod, "-n", ns, "-o",
                         "jsonpath={.metadata.uid} {.status.phase}")
        if r.returncode or r.stdout.split() != [r.stdout.split()[0], "Running"] or \
                r.stdout.split()[0] == uids[pod]:
            return False
        out = vault_in(fake, ns, pod, "", "status", "-format=json").stdout
        return bool(out) and ready(json.loads(out))
    for pod in ("vault-0", "vault-1", "vault-2"):
        poll(lambda: back(pod), "%s back in %s" % (pod, ns))
