"""`snapshot save|verify|restore` end to end (issue 6): the built plugin against the fake API
server and the simulated Vault, whose snapshots are real gzip tar archives carrying the
cluster's small key/value state (cubbyhole entries) in state.bin (docs/vault-cli.md §5).

The cluster is brought up by the plugin itself (`bootstrap --output FILE`). Sizes stay small in
the default suite (64 MiB for the large snapshot); tests/bench/snapshot does 1 GiB."""
import gzip
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from conftest import BIN, RELEASE_BIN, ROOT, run_plugin, sanitized
from harness import FakeCluster

sys.path.insert(0, os.path.join(ROOT, "tests", "fake"))
from vaultsim import snapshot as S  # noqa: E402

MEMBERS = ["meta.json", "state.bin", "SHA256SUMS", "SHA256SUMS.sealed"]
FAST = ("--vault-opt", "stabilization_seconds=0.5", "--vault-opt", "election_seconds=0.3",
        "--vault-opt", "restore_apply_seconds=0.3")
TOKEN_SCRIPT = 'IFS= read -r VAULT_TOKEN && export VAULT_TOKEN && exec vault "$@"'


# ---------------------------------------------------------------- helpers
def env_of(kubeconfig, extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR", "VAULT_TOKEN")}
    env["HOME"] = "/nonexistent"
    env["KUBECONFIG"] = str(kubeconfig)
    env.update(extra or {})
    return env


def run_bytes(fake, args, input=None, env=None, timeout=180):
    return subprocess.run([BIN] + list(args), env=env_of(fake.kubeconfig, env), input=input,
                          capture_output=True, timeout=timeout)


def run(fake, args, token=None, input=None, timeout=180):
    return run_plugin(args, kubeconfig=fake.kubeconfig, input=input, timeout=timeout,
                      env={"VAULT_TOKEN": token} if token else None)


class Cluster:
    """A fake cluster brought up by `bootstrap`, with the root token."""

    def __init__(self, fake, tmp, preset=False):
        self.fake = fake
        self.tmp = tmp
        keys = tmp / "vault-keys.json"
        if preset:  # the simulator started the cluster up (--vault-opt preset=ha)
            keys = os.path.join(fake.state_dir, "vault", "vault", "vault", "vault-init.json")
        else:
            r = run(fake, ["bootstrap", "--output", str(keys)], timeout=240)
            assert r.returncode == 0, "bootstrap failed:\n" + r.stderr
        with open(keys) as f:
            self.root = json.load(f)["root_token"]
        self.token_file = tmp / "root.token"
        fd = os.open(self.token_file, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        os.write(fd, (self.root + "\n").encode())
        os.close(fd)

    def plugin(self, *args, token=True, input=None, timeout=180):
        return run(self.fake, list(args), token=self.root if token else None, input=input,
                   timeout=timeout)

    def vault(self, pod, *args):
        """The Vault CLI in a pod through the plugin's exec, the token on stdin."""
        r = run_bytes(self.fake, ["exec", pod, "-i", "--", "sh", "-c", TOKEN_SCRIPT, "vault"] +
                      list(args), input=(self.root + "\n").encode())
        return r

    def write(self, value, pod="vault-0"):
        r = self.vault(pod, "write", "cubbyhole/app", "v=" + value)
        assert r.returncode == 0, r.stderr

    def read(self, pod="vault-0"):
        r = self.vault(pod, "read", "-field=v", "cubbyhole/app")
        return r.stdout.decode() if r.returncode == 0 else None


def start(make_fake, tmp_path, *args, name="fake", preset=False):
    fake = make_fake(*(FAST + args), name=name)
    d = tmp_path / ("c-" + name)
    d.mkdir()
    return Cluster(fake, d, preset=preset)


def members_of(data: bytes):
    tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    return {m.name: tf.extractfile(m).read() for m in tf.getmembers()}, tf.getnames()


def archive(parts, sums_for=None):
    """A gzip tar of (name, bytes) parts as Vault writes them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in parts:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o600
            tf.addfile(ti, io.BytesIO(data))
    return gzip.compress(buf.getvalue())


def leftovers(directory):
    return sorted(n for n in os.listdir(directory) if ".vault-ha-" in n)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wait_file(directory, pred, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = [n for n in os.listdir(directory) if pred(n)]
        if names:
            return names
        time.sleep(0.02)
    return []


# ---------------------------------------------------------------- one cluster for many tests
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One bootstrapped cluster shared by the tests below (each writes the data it reads)."""
    d = tmp_path_factory.mktemp("shared")
    with FakeCluster(d / "fake", *FAST) as fake:
        yield Cluster(fake, d)


def test_round_trip_save_verify_change_restore(cluster, tmp_path):
    c = cluster
    c.write("before")
    assert c.read() == "before"
    snap = tmp_path / "backup.snap"
    r = c.plugin("snapshot", "save", str(snap))
    assert r.returncode == 0, r.stderr
    assert os.stat(snap).st_mode & 0o777 == 0o600
    assert leftovers(tmp_path) == []
    data = snap.read_bytes()
    files, names = members_of(data)
    assert names == MEMBERS
    meta = json.loads(files["meta.json"])
    assert r.stdout.startswith("Saved snapshot %s from vault-0: " % snap)
    assert "(%d bytes), raft index %d, term %d, in " % (len(data), meta["Index"], meta["Term"]) \
        in r.stdout
    assert "verified: gzip, tar members, SHA256SUMS." in r.stdout

    r = c.plugin("snapshot", "verify", str(snap), token=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("%s: valid Raft snapshot, " % snap)
    assert "raft index %d, term %d, ID %s, version 1" % (meta["Index"], meta["Term"], meta["ID"]) \
        in r.stdout
    assert "state.bin           " in r.stdout
    assert hashlib.sha256(files["state.bin"]).hexdigest() in r.stdout
    assert "SHA256SUMS.sealed   %d bytes, not checked: it needs the cluster's unseal keys" % \
        len(files["SHA256SUMS.sealed"]) in r.stdout
    assert "meta.json:\n{\n" in r.stdout and '"Index": %d' % meta["Index"] in r.stdout

    r = c.plugin("-o", "json", "snapshot", "verify", str(snap), token=False)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["valid"] is True and doc["compressedBytes"] == len(data)
    assert doc["members"]["state.bin"]["sha256"] == hashlib.sha256(files["state.bin"]).hexdigest()
    assert doc["members"]["SHA256SUMS.sealed"]["verified"] is False
    assert doc["meta"]["Index"] == meta["Index"]

    c.write("after")
    assert c.read() == "after"
    r = c.plugin("snapshot", "restore", str(snap), "--yes", "--token-file", str(c.token_file),
                 token=False)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "valid snapshot" in r.stderr
    assert "Snapshot accepted" in r.stderr
    for pod in ("vault-0", "vault-1", "vault-2"):
        assert "  %s: " % pod in r.stderr and "unsealed, raft member" in r.stderr
    assert "Restore of %s complete: every pod is unsealed and a raft member." % snap in r.stderr
    assert "vault-0" in r.stdout  # the status screen
    assert c.read() == "before"


def test_save_to_stdout_and_existing_file_replaced_atomically(cluster, tmp_path):
    c = cluster
    r = run_bytes(c.fake, ["snapshot", "save", "-"], env={"VAULT_TOKEN": c.root})
    assert r.returncode == 0, r.stderr
    files, names = members_of(r.stdout)
    assert names == MEMBERS
    assert b"Saved snapshot to stdout from vault-0: " in r.stderr

    snap = tmp_path / "x.snap"
    snap.write_bytes(b"old contents")
    os.chmod(snap, 0o644)
    r = c.plugin("snapshot", "save", str(snap))
    assert r.returncode == 0, r.stderr
    assert os.stat(snap).st_mode & 0o777 == 0o600
    assert members_of(snap.read_bytes())[1] == MEMBERS
    assert leftovers(tmp_path) == []

    r = c.plugin("-o", "json", "snapshot", "save", str(snap))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["file"] == str(snap) and doc["pod"] == "vault-0"
    assert doc["bytes"] == os.path.getsize(snap)


def test_no_token_and_bad_token(cluster, tmp_path):
    c = cluster
    snap = tmp_path / "keep.snap"
    snap.write_bytes(b"precious")
    r = c.plugin("snapshot", "save", str(snap), token=False)
    assert r.returncode == 1
    assert "a Vault token is needed: set VAULT_TOKEN, use --token-file FILE" in r.stderr
    assert snap.read_bytes() == b"precious"

    r = run(c.fake, ["snapshot", "save", str(snap)], token="hvs.not-a-real-token")
    assert r.returncode == 1
    assert ("snapshot save on vault-0 failed (vault exit 2): permission denied (the token is "
            "wrong or lacks read on sys/storage/raft/snapshot); nothing was saved") in r.stderr
    assert snap.read_bytes() == b"precious"
    assert leftovers(tmp_path) == []

    good = tmp_path / "good.snap"
    assert c.plugin("snapshot", "save", str(good)).returncode == 0
    r = run(c.fake, ["snapshot", "restore", str(good), "--yes"], token="hvs.not-a-real-token")
    assert r.returncode == 1
    assert "snapshot restore on vault-0 failed: permission denied (the token is wrong" in r.stderr


def test_standby_chosen_explicitly(cluster, tmp_path):
    c = cluster
    snap = tmp_path / "standby.snap"
    r = c.plugin("snapshot", "save", str(snap), "--pod", "vault-1")
    # The fake serves plain HTTP, so the standby's 307 to the active node is followed.
    assert r.returncode == 0, r.stderr
    assert ("vault-1 is a standby: Vault redirects the snapshot request to the active node "
            "(vault-0).") in r.stderr
    assert "from vault-1:" in r.stdout
    assert members_of(snap.read_bytes())[1] == MEMBERS

    r = c.plugin("snapshot", "restore", str(snap), "--yes", "--pod", "vault-2")
    assert r.returncode == 1
    assert ("vault-2 is a standby; a restore must run on the active pod (vault-0): a standby "
            "answers with a 307 redirect") in r.stderr
    r = c.plugin("snapshot", "save", str(snap), "--pod", "vault-7")
    assert r.returncode == 1
    assert 'no pod "vault-7" in StatefulSet vault/vault' in r.stderr


def test_restore_asks_and_refuses_without_a_terminal(cluster, tmp_path):
    c = cluster
    snap = tmp_path / "s.snap"
    assert c.plugin("snapshot", "save", str(snap)).returncode == 0
    c.write("newer")
    r = c.plugin("snapshot", "restore", str(snap))
    assert r.returncode == 1
    assert ("Restore %s (raft index " % snap) in r.stderr
    assert "into Vault cluster vault/vault (StatefulSet vault, through active pod vault-0)? " \
           "This replaces ALL of the cluster's data: refusing without a terminal to confirm; " \
           "add --yes" in r.stderr
    assert "Not restored." in r.stderr
    assert c.read() == "newer"
    r = c.plugin("snapshot", "restore", "-", "--yes")
    assert r.returncode == 64


def test_secrets_never_in_argv_or_trace(cluster, tmp_path):
    c = cluster
    snap = tmp_path / "t.snap"
    r = c.plugin("-v", "snapshot", "save", str(snap))
    assert r.returncode == 0, r.stderr
    assert c.root not in r.stderr and c.root not in r.stdout
    r = c.plugin("-v", "snapshot", "restore", str(snap), "--yes")
    assert r.returncode == 0, r.stderr
    assert c.root not in r.stderr and c.root not in r.stdout
    saw_save = saw_restore = False
    for e in c.fake.audit_log():
        assert c.root not in json.dumps(e)
    for e in c.fake.exec_log():
        assert c.root not in json.dumps(e)
        argv = " ".join(e["command"])
        saw_save |= "snapshot save /dev/stdout" in argv
        saw_restore |= "snapshot restore /dev/stdin" in argv
    assert saw_save and saw_restore


def test_verify_names_each_problem(tmp_path):
    """Corrupted archives: verify is offline (no kubeconfig needed) and names the problem."""
    meta = S.raft_meta(42, 3, [{"ID": "n0", "Address": "vault-0.vault-internal:8201"}], 1)
    w = S.SnapshotWriter(meta, [("core/x", b"v")], lambda s: b"sealed:" + s, mtime=0)
    good = b"".join(w.chunks())
    files, names = members_of(good)
    assert names == MEMBERS

    def verify(name, data):
        p = tmp_path / name
        p.write_bytes(data)
        r = run_plugin(["snapshot", "verify", str(p)], kubeconfig=tmp_path / "none")
        return p, r

    p, r = verify("good.snap", good)
    assert r.returncode == 0, r.stderr
    assert "raft index 42, term 3" in r.stdout

    cases = {
        "notgzip.snap": (b"PK\x03\x04" + good[4:],
                         "bad gzip: not gzip data (it starts with 50 4b, not 1f 8b)"),
        "truncated.snap": (good[:len(good) // 2],
                           "truncated snapshot: the gzip stream ends after %d bytes, before its "
                           "end" % (len(good) // 2)),
        "crc.snap": (good[:-8] + bytes([good[-8] ^ 1]) + good[-7:],
                     "bad gzip: CRC-32 mismatch in the gzip trailer (the data is corrupt)"),
        "missing.snap": (archive([(n, files[n]) for n in MEMBERS if n != "state.bin"]),
                         'missing member "state.bin": "SHA256SUMS" comes in its place'),
        "nosealed.snap": (archive([(n, files[n]) for n in MEMBERS[:3]]),
                          'missing member "SHA256SUMS.sealed": the archive ends after '
                          '"SHA256SUMS"'),
        "extra.snap": (archive([(n, files[n]) for n in MEMBERS[:2]] + [("extra.txt", b"x")] +
                               [(n, files[n]) for n in MEMBERS[2:]]),
                       'unexpected file "extra.txt" in snapshot'),
        "emptysealed.snap": (archive([(n, files[n]) for n in MEMBERS[:3]] +
                                     [("SHA256SUMS.sealed", b"")]),
                             "SHA256SUMS.sealed is empty: the snapshot is incomplete"),
        "bigmeta.snap": (archive([("meta.json", files["meta.json"] + b" " * 9000)] +
                                 [(n, files[n]) for n in MEMBERS[1:]]),
                         "meta.json is %d bytes, over Vault's limit of 8 KiB" %
                         (len(files["meta.json"]) + 9000)),
    }
    bad_state = files["state.bin"] + b"tampered"
    cases["checksum.snap"] = (
        archive([("meta.json", files["meta.json"]), ("state.bin", bad_state),
                 ("SHA256SUMS", files["SHA256SUMS"]),
                 ("SHA256SUMS.sealed", files["SHA256SUMS.sealed"])]),
        'checksum mismatch for "state.bin": SHA256SUMS says %s, its content hashes to %s' % (
            hashlib.sha256(files["state.bin"]).hexdigest(), hashlib.sha256(bad_state).hexdigest()))
    for name, (data, want) in cases.items():
        p, r = verify(name, data)
        assert r.returncode == 1, name
        assert r.stdout == "", name
        assert r.stderr.startswith("kubectl vault-ha: %s: %s" % (p, want)), (name, r.stderr)

    r = run_plugin(["snapshot", "verify", str(tmp_path / "nope.snap")], kubeconfig=tmp_path / "x")
    assert r.returncode == 1
    assert "cannot open %s: No such file or directory" % (tmp_path / "nope.snap") in r.stderr
    r = run_plugin(["snapshot", "frobnicate", "x"], kubeconfig=tmp_path / "x")
    assert r.returncode == 64


def test_restore_refuses_a_bad_file_before_touching_the_cluster(cluster, tmp_path):
    c = cluster
    p = tmp_path / "bad.snap"
    p.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 40)
    before = len(c.fake.exec_log())
    r = c.plugin("snapshot", "restore", str(p), "--yes")
    assert r.returncode == 1
    assert "%s: " % p in r.stderr
    assert len(c.fake.exec_log()) == before  # nothing ran in any pod


# ---------------------------------------------------------------- clusters with options
def run_watching_memory(cmd, env, out_path):
    """Runs cmd (stdout to out_path); returns (exit code, stderr, peak RSS in KiB). The peak is
    the process's own VmHWM, polled: ru_maxrss of a child started from Python starts at the
    Python parent's RSS (Linux keeps the pre-exec high-water mark), so it cannot be used."""
    with open(out_path, "wb") as out, open(str(out_path) + ".err", "wb") as err:
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        hwm = 0
        while p.poll() is None:
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm = max(hwm, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.005)
    with open(str(out_path) + ".err", "rb") as f:
        return p.returncode, f.read().decode(errors="replace"), hwm


def test_large_snapshot_in_flat_memory(make_fake, tmp_path):
    """64 MiB here (tests/bench/snapshot does 1 GiB): saved and verified with a peak RSS within
    16 MiB, the same as for a tiny snapshot."""
    # The memory is measured on the plain build (RELEASE_BIN): ASan's shadow memory and
    # quarantine would measure the sanitizer.
    size = 64 << 20
    c = start(make_fake, tmp_path, "--vault-opt", "snapshot_state_bytes=%d" % size)
    snap = tmp_path / "large.snap"
    env = env_of(c.fake.kubeconfig, {"VAULT_TOKEN": c.root})
    rc, err, hwm = run_watching_memory([RELEASE_BIN, "snapshot", "save", str(snap)], env,
                                       tmp_path / "save.out")
    assert rc == 0, err
    assert os.path.getsize(snap) > size  # gzip level 1 of filler that does not compress
    out = (tmp_path / "save.out").read_text()
    assert out.startswith("Saved snapshot %s from vault-0: " % snap)
    r = run_plugin(["snapshot", "verify", str(snap)], kubeconfig=c.fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    assert "  state.bin           64.0 MiB (%d bytes), sha256 " % size in r.stdout
    rc, err, hwm_verify = run_watching_memory([RELEASE_BIN, "snapshot", "verify", str(snap)], env,
                                              tmp_path / "verify.out")
    assert rc == 0, err
    # `save -` redirected into a file (written with O_DIRECT where aligned): a valid archive too
    piped = tmp_path / "piped.snap"
    with open(piped, "wb") as o:
        p = subprocess.run([BIN, "snapshot", "save", "-"], env=env, stdout=o,
                           stderr=subprocess.PIPE, timeout=180)
    assert p.returncode == 0, p.stderr
    r = run_plugin(["snapshot", "verify", str(piped)], kubeconfig=c.fake.kubeconfig)
    assert r.returncode == 0 and "  state.bin           64.0 MiB" in r.stdout, r.stderr
    if not sanitized(RELEASE_BIN):
        assert 0 < hwm <= 16 * 1024, "snapshot save: peak RSS %d KiB" % hwm
        assert 0 < hwm_verify <= 16 * 1024, "snapshot verify: peak RSS %d KiB" % hwm_verify


def test_stream_cut_leaves_no_file_and_keeps_the_old_one(make_fake, tmp_path):
    c = start(make_fake, tmp_path, "--vault-opt", "snapshot_state_bytes=%d" % (8 << 20))
    snap = tmp_path / "cut.snap"
    r = c.plugin("snapshot", "save", str(snap))
    assert r.returncode == 0, r.stderr
    full = os.path.getsize(snap)
    # inside meta.json, early and late in state.bin, in the last bytes (the gzip trailer)
    for cut in (2000, 300000, full // 2, full - 10):
        snap.write_bytes(b"the previous backup")
        c.fake.control("settings", {"cut_after": cut})
        r = c.plugin("snapshot", "save", str(snap))
        c.fake.control("settings", {"cut_after": 0})
        assert r.returncode == 1, (cut, r.stderr)
        # stdout stops at the cut; some of the pod's stderr (vault's exit status) may
        # have arrived before it
        m = re.search(r"exec in vault-0: the stream was cut before the command finished "
                      r"\((\d+) bytes received; ", r.stderr)
        assert m and cut <= int(m.group(1)) < cut + 100, (cut, r.stderr)
        assert r.stderr.endswith("); nothing was saved\n"), (cut, r.stderr)
        assert snap.read_bytes() == b"the previous backup", cut
        assert leftovers(tmp_path) == [], cut
    c.fake.control("settings", {"cut_after": 1})
    # Every exec cut, the status reading too (by exec: through pods/proxy it is not cut).
    r = c.plugin("--read-via", "exec", "snapshot", "save", str(snap))
    c.fake.control("settings", {"cut_after": 0})
    assert r.returncode == 1
    assert "no pod of vault/vault answered vault status (vault-0: " in r.stderr
    assert snap.read_bytes() == b"the previous backup"


def test_ctrl_c_removes_the_temporary_file(make_fake, tmp_path):
    c = start(make_fake, tmp_path, "--vault-opt", "snapshot_state_bytes=%d" % (256 << 20))
    d = tmp_path / "out"
    d.mkdir()
    snap = d / "big.snap"
    snap.write_bytes(b"keep me")
    p = subprocess.Popen([BIN, "snapshot", "save", str(snap)],
                         env=env_of(c.fake.kubeconfig, {"VAULT_TOKEN": c.root}),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_file(d, lambda n: ".vault-ha-" in n), "no temporary file appeared"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted after " in err and "nothing was saved" in err
    assert leftovers(d) == []
    assert snap.read_bytes() == b"keep me"


def test_v4_server_copies_then_restores(make_fake, tmp_path):
    c = start(make_fake, tmp_path, "--max-protocol", "v4")
    c.write("v4-before")
    snap = tmp_path / "v4.snap"
    r = c.plugin("snapshot", "save", str(snap))
    assert r.returncode == 0, r.stderr
    c.write("v4-after")
    r = c.plugin("snapshot", "restore", str(snap), "--yes")
    assert r.returncode == 0, r.stderr + r.stdout
    assert ("The API server speaks v4.channel.k8s.io, which cannot end stdin: the snapshot is "
            "copied into the pod") in r.stderr
    assert c.read() == "v4-before"
    argvs = [" ".join(e["command"]) for e in c.fake.exec_log()]
    restore = [a for a in argvs if "snapshot restore" in a]
    assert restore and all("/dev/stdin" not in a for a in restore)
    assert any('head -c "$n"' in a and " %d operator raft snapshot restore" %
               os.path.getsize(snap) in a for a in restore)
    # the copy in the pod is gone
    r = run_bytes(c.fake, ["exec", "vault-0", "--", "sh", "-c",
                           'ls "${TMPDIR:-/tmp}" | grep -c vault-ha-restore || true'])
    assert r.stdout.decode().strip() == "0"


def test_restore_from_another_cluster_needs_force_and_its_keys(make_fake, tmp_path):
    """Issue 22: another cluster's snapshot stops a plain restore before anything changes (its
    metadata names another cluster_id); --force needs the source's keys, which unseal every pod
    after the restore. The detailed DR cases are in test_dr.py."""
    a = start(make_fake, tmp_path, name="a")
    b = start(make_fake, tmp_path, name="b")
    a.write("from-a")
    snap = tmp_path / "a.snap"
    assert a.plugin("snapshot", "save", str(snap)).returncode == 0
    r = b.plugin("snapshot", "restore", str(snap), "--yes")
    assert r.returncode == 1
    assert "kubectl vault-ha: the snapshot comes from another cluster: its metadata says" \
        in r.stderr
    assert "Nothing was changed." in r.stderr

    r = b.plugin("snapshot", "restore", str(snap), "--yes", "--force", "--timeout", "20s")
    assert r.returncode == 64
    assert "--force needs --keys-file SOURCE_KEYS" in r.stderr
    r = b.plugin("snapshot", "restore", str(snap), "--yes", "--force", "--timeout", "20s",
                 "--keys-file", str(a.tmp / "vault-keys.json"))
    assert "warning: --force skips Vault's check" in r.stderr
    assert r.returncode == 0, r.stderr
    assert "Every pod reports the source's cluster_id" in r.stderr
    b.root = a.root
    assert b.read() == "from-a"


def test_standby_under_tls_says_why(make_fake, tmp_path):
    """With the chart's TLS example the standby's 307 goes to the active pod's IP, which its
    certificate does not name (docs/vault-cli.md §10.5): the save fails and says what to do. (The
    simulator brings this cluster up itself: bootstrap has no option for the leader's CA that
    raft join under TLS needs.)"""
    c = start(make_fake, tmp_path, "--tls", "--vault-opt", "preset=ha", preset=True)
    snap = tmp_path / "tls.snap"
    r = c.plugin("snapshot", "save", str(snap), "--pod", "vault-1")
    assert r.returncode == 1
    assert "snapshot save on vault-1 failed (vault exit 2): " in r.stderr
    assert ("(a standby redirects snapshot requests to the active node's pod IP; under TLS its "
            "certificate must name that IP: leave out --pod to save from the active pod); "
            "nothing was saved") in r.stderr
    assert not snap.exists() and leftovers(tmp_path) == []
    r = c.plugin("snapshot", "save", str(snap))
    assert r.returncode == 0, r.stderr


def image_tool(fake, name, script):
    """Puts a tool into the pods' image (first on their PATH, see tests/fake/README.md)."""
    d = os.path.join(fake.state_dir, "image-bin")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + script)
    os.chmod(path, 0o755)


def test_count_by_dd_or_by_tee_and_wc(make_fake, tmp_path):
    """The pod counts the stream with dd where dd reports bytes copied (coreutils here), and
    falls back to tee | wc -c with a dd that prints only record counts (a busybox built
    without its third status line): both save the same verified snapshot."""
    c = start(make_fake, tmp_path, "--vault-opt", "preset=ha", preset=True)
    c.write("counted")
    snap = tmp_path / "dd.snap"
    r = c.plugin("snapshot", "save", str(snap))
    assert r.returncode == 0, r.stderr
    trace = tmp_path / "tools"
    # busybox without FEATURE_DD_THIRD_STATUS_LINE: records only; tee and wc logged when run
    image_tool(c.fake, "dd", "/bin/dd \"$@\" 2>/dev/null; echo 'dd' >> %s; "
               "echo '0+1 records in' >&2; echo '0+1 records out' >&2\n" % trace)
    image_tool(c.fake, "wc", "echo wc >> %s; exec /usr/bin/wc \"$@\"\n" % trace)
    snap2 = tmp_path / "tee.snap"
    r = c.plugin("snapshot", "save", str(snap2))
    assert r.returncode == 0, r.stderr
    assert trace.read_text() == "dd\nwc\n"  # the probe, then the count by wc
    for f in (snap, snap2):
        assert members_of(f.read_bytes())[1] == MEMBERS
        v = run_plugin(["snapshot", "verify", str(f)], kubeconfig=c.fake.kubeconfig)
        assert v.returncode == 0 and v.stdout.startswith("%s: valid Raft snapshot, " % f), v.stdout


def test_a_count_that_differs_from_what_arrived_fails(make_fake, tmp_path):
    """What the pod says it sent is checked against what arrived (a lost tail is caught even
    where the archive would not show it), and a pod that cannot count says so."""
    c = start(make_fake, tmp_path, "--vault-opt", "preset=ha", preset=True)
    snap = tmp_path / "s.snap"
    snap.write_bytes(b"the previous backup")
    image_tool(c.fake, "dd", "/bin/dd \"$@\" 2>/dev/null\n"
               "{ echo '1+0 records in'; echo '1+0 records out'\n"
               "echo '99999999 bytes (100 MB, 95 MiB) copied, 1 s, 100 MB/s'; } >&2\n")
    r = c.plugin("snapshot", "save", str(snap))
    assert r.returncode == 1
    m = re.search(r"the stream lost data: vault-0 sent 99999999 bytes, (\d+) arrived; "
                  r"nothing was saved\n$", r.stderr)
    assert m and int(m.group(1)) > 0, r.stderr
    assert snap.read_bytes() == b"the previous backup" and leftovers(tmp_path) == []
    # neither a counting dd nor wc in the image
    image_tool(c.fake, "dd", "echo 'dd: applet not found' >&2; exit 127\n")
    image_tool(c.fake, "wc", "echo 'wc: applet not found' >&2; exit 127\n")
    r = c.plugin("snapshot", "save", str(snap))
    assert r.returncode == 1
    # Either vault finished first and only the count is missing, or tee lost its reader and
    # vault its pipe (SIGPIPE) first: both say what the pod said.
    assert ("vault-0 did not report how many bytes it sent (needs dd, or tee and wc, in the "
            "image), so a lost tail cannot be ruled out: wc: applet not found; nothing was "
            "saved\n") in r.stderr or \
        "snapshot save on vault-0 failed (vault exit 2): wc: applet not found; nothing was " \
        "saved\n" in r.stderr, r.stderr
    assert snap.read_bytes() == b"the previous backup" and leftovers(tmp_path) == []
