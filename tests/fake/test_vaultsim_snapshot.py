"""Raft snapshots through the simulated CLI (docs/vault-cli.md §5): the archive format, where the bytes go
(lazy 0600 file, /dev/stdout, a file named "-"), standby redirects, restore semantics
(asynchronous apply, other-cluster check, -force, /dev/stdin, corrupt archives) and streaming of
large snapshots in bounded memory."""
import gzip
import hashlib
import io
import os
import subprocess
import tarfile
import time

import pytest

from vaultsim.testing import SimServer, jout, status, wait_for, work_timeout

MEMBERS = ["meta.json", "state.bin", "SHA256SUMS", "SHA256SUMS.sealed"]


def check_archive(data: bytes):
    """What the plugin's verifier must accept: gzip tar, members in order, SHA256SUMS correct."""
    tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    assert tf.getnames() == MEMBERS
    files = {m: tf.extractfile(m).read() for m in MEMBERS}
    sums = dict(reversed(line.split("  ")) for line in files["SHA256SUMS"].decode().splitlines())
    assert sums == {"meta.json": hashlib.sha256(files["meta.json"]).hexdigest(),
                    "state.bin": hashlib.sha256(files["state.bin"]).hexdigest()}
    assert files["SHA256SUMS.sealed"]
    return files


@pytest.fixture
def ha(tmp_path):
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "restore_apply_seconds": "0.2"}) as s:
        root = s.vc.init_result["root_token"]
        for p in ("vault-0", "vault-1", "vault-2"):
            s.write_token(p, root)
        yield s


def read_secret(s, pod, path="cubbyhole/app"):
    r = s.vault(pod, "read", "-field=v", path)
    return r.stdout.decode() if r.returncode == 0 else None


def test_save_to_file_is_a_valid_archive_with_mode_0600(ha):
    """§5: streamed into PATH opened O_CREATE|O_WRONLY|O_TRUNC 0600; nothing on stdout; exit 0."""
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "save", "backup.snap")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    path = os.path.join(ha.cwd("vault-0"), "backup.snap")
    assert os.stat(path).st_mode & 0o777 == 0o600
    files = check_archive(open(path, "rb").read())
    meta = __import__("json").loads(files["meta.json"])
    assert meta["Index"] > 0 and meta["Size"] == len(files["state.bin"])
    assert len(meta["Configuration"]["Servers"]) == 3


def test_save_to_dev_stdout_and_dash(ha):
    """§5: /dev/stdout works (the archive is the whole stdout); `-` creates a file named "-"."""
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "save", "/dev/stdout")
    assert r.returncode == 0 and r.stderr == b""
    check_archive(r.stdout)
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "save", "-")
    assert (r.returncode, r.stdout) == (0, b"")
    check_archive(open(os.path.join(ha.cwd("vault-0"), "-"), "rb").read())


def test_save_errors_and_lazy_open(ha):
    """§5: the file is opened on the first byte only: an API error leaves no file; exit 2; args exit 1."""
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "save", "nofile.snap", extra_env={"VAULT_TOKEN": "x"})
    assert r.returncode == 2
    assert r.stderr.decode() == ("Error taking the snapshot: Error making API request.\n\nURL: GET "
                                 "http://127.0.0.1:8200/v1/sys/storage/raft/snapshot\nCode: 403. Errors:\n\n"
                                 "* permission denied\n")
    assert not os.path.exists(os.path.join(ha.cwd("vault-0"), "nofile.snap"))
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "save")
    assert (r.returncode, r.stderr) == (1, b"Incorrect arguments (expected 1, got 0)\n")
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "save", " ")
    assert (r.returncode, r.stderr) == (1, b"Output file name is required\n")


def test_save_on_a_standby_follows_the_redirect(ha):
    """§5: on a standby the node answers 307 to the active node's api_addr and the CLI follows it."""
    assert status(ha, "vault-1").get("is_self") is None
    r = ha.vault("vault-1", "operator", "raft", "snapshot", "save", "/dev/stdout")
    assert r.returncode == 0, r.stderr
    check_archive(r.stdout)


def test_restore_round_trip_brings_back_saved_data(ha):
    """§5: restore prints nothing, exits 0, applies asynchronously and replaces the cluster's data."""
    assert ha.vault("vault-0", "write", "cubbyhole/app", "v=before").returncode == 0
    assert ha.vault("vault-0", "operator", "raft", "snapshot", "save", "s.snap").returncode == 0
    ha.vault("vault-0", "write", "cubbyhole/app", "v=after")
    ha.vault("vault-0", "write", "cubbyhole/other", "v=later")
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "restore", "s.snap")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    wait_for(lambda: read_secret(ha, "vault-0") == "before", what="restored data")
    assert read_secret(ha, "vault-0", "cubbyhole/other") is None
    assert read_secret(ha, "vault-2") == "before"                    # replicated / forwarded
    assert status(ha, "vault-0")["sealed"] is False


def test_restore_from_dev_stdin_reads_to_eof(ha):
    """§5: /dev/stdin is re-opened and read to EOF (an anonymous pipe, addendum)."""
    ha.vault("vault-0", "write", "cubbyhole/app", "v=one")
    data = ha.vault("vault-0", "operator", "raft", "snapshot", "save", "/dev/stdout").stdout
    ha.vault("vault-0", "write", "cubbyhole/app", "v=two")
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "restore", "/dev/stdin", input=data)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: read_secret(ha, "vault-0") == "one", what="restored data")
    env, cwd = ha.env("vault-0")
    p = subprocess.Popen(["vault", "operator", "raft", "snapshot", "restore", "/dev/stdin"], env=env, cwd=cwd,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(data)
    p.stdin.flush()
    time.sleep(1.0)
    assert p.poll() is None                          # no EOF yet: still streaming the body
    p.stdin.close()
    assert p.wait(60) == 0


def test_restore_on_a_standby_breaks_on_the_consumed_body(ha):
    """§5: on a standby the 307 is followed by re-sending the already consumed body: it fails."""
    data = ha.vault("vault-0", "operator", "raft", "snapshot", "save", "/dev/stdout").stdout
    r = ha.vault("vault-1", "operator", "raft", "snapshot", "restore", "/dev/stdin", input=data)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.startswith("Error installing the snapshot: Error making API request.\n\n"
                          "URL: POST http://10.244.1.17:8200/v1/sys/storage/raft/snapshot\n")


def test_restore_rejects_corrupt_archives(ha):
    """§5: checksum mismatch and unexpected members are refused; a missing file is `Error opening policy file`."""
    data = ha.vault("vault-0", "operator", "raft", "snapshot", "save", "/dev/stdout").stdout
    tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    files = {m: tf.extractfile(m).read() for m in MEMBERS}

    def pack(items):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as out:
            for name, content in items:
                ti = tarfile.TarInfo(name)
                ti.size = len(content)
                ti.mode = 0o600
                out.addfile(ti, io.BytesIO(content))
        return gzip.compress(raw.getvalue())

    bad = dict(files)
    bad["state.bin"] = files["state.bin"][:-1] + bytes([files["state.bin"][-1] ^ 1])
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "restore", "/dev/stdin", input=pack(bad.items()))
    assert r.returncode == 2 and r.stderr.decode().endswith('* failed checking integrity of snapshot: bad hash for "state.bin"\n')
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "restore", "/dev/stdin",
                 input=pack(list(files.items()) + [("evil.sh", b"x")]))
    assert r.returncode == 2 and r.stderr.decode().endswith('* unexpected file "evil.sh" in snapshot\n')
    r = ha.vault("vault-0", "operator", "raft", "snapshot", "restore", "/nonexistent.snap")
    assert (r.returncode, r.stderr) == (2, b"Error opening policy file: open /nonexistent.snap: no such file or directory\n")
    check_archive(ha.vault("vault-0", "operator", "raft", "snapshot", "save", "/dev/stdout").stdout)


def test_restore_from_another_cluster_needs_force_then_needs_its_keys(tmp_path):
    """§5: without -force a snapshot with other unseal keys fails (400 could not verify hash file ...);
    with -force it is installed, the nodes seal (the keyring cannot be opened) and the snapshot
    cluster's keys unseal them; its data and root token come back."""
    with SimServer(tmp_path, replicas=3, options={"preset": "unsealed", "restore_apply_seconds": "0.2"}) as s:
        a_root = s.vc.init_result["root_token"]
        s.write_token("vault-0", a_root)
        b = jout(s.vault("vault-2", "operator", "init", "-format=json"))
        for k in b["unseal_keys_b64"][:3]:
            s.vault("vault-2", "operator", "unseal", k)
        s.write_token("vault-2", b["root_token"])
        wait_for(lambda: status(s, "vault-2").get("is_self"), what="cluster B active")
        s.vault("vault-2", "write", "cubbyhole/app", "v=from-b")
        snap = s.vault("vault-2", "operator", "raft", "snapshot", "save", "/dev/stdout").stdout
        check_archive(snap)
        r = s.vault("vault-0", "operator", "raft", "snapshot", "restore", "/dev/stdin", input=snap)
        assert r.returncode == 2
        assert r.stderr.decode() == (
            "Error installing the snapshot: Error making API request.\n\nURL: POST "
            "http://127.0.0.1:8200/v1/sys/storage/raft/snapshot\nCode: 400. Errors:\n\n* could not verify hash "
            "file, possibly the snapshot is using a different set of unseal keys; use the snapshot-force API to "
            "bypass this check\n")
        r = s.vault("vault-0", "operator", "raft", "snapshot", "restore", "-force", "/dev/stdin", input=snap)
        assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
        wait_for(lambda: status(s, "vault-0")["sealed"], what="sealed after a foreign restore")
        for k in s.vc.init_result["unseal_keys_b64"][:3]:
            last = s.vault("vault-0", "operator", "unseal", k)
        assert last.returncode == 2 and "message authentication failed" in last.stderr.decode()
        for k in b["unseal_keys_b64"][2:5]:
            s.vault("vault-0", "operator", "unseal", k)
        assert status(s, "vault-0")["sealed"] is False
        wait_for(lambda: status(s, "vault-0").get("is_self"), what="active again")
        s.write_token("vault-0", b["root_token"])
        assert read_secret(s, "vault-0") == "from-b"
        r = s.vault("vault-0", "operator", "raft", "list-peers", extra_env={"VAULT_TOKEN": a_root})
        assert r.returncode == 2 and "permission denied" in r.stderr.decode()


def test_large_snapshot_streams_in_bounded_memory(tmp_path):
    """Option snapshot_state_bytes: a 160 MiB state.bin is generated and copied as a stream; the CLI
    process stays small (it never holds the archive) and the archive verifies."""
    size = 160 * 1024 * 1024
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed", "snapshot_state_bytes": str(size)}) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        env, cwd = s.env("vault-0")
        p = subprocess.Popen(["vault", "operator", "raft", "snapshot", "save", "big.snap"], env=env, cwd=cwd,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, rc_status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(rc_status)
        assert p.returncode == 0, p.stderr.read()
        path = os.path.join(cwd, "big.snap")
        assert os.path.getsize(path) > size
        assert usage.ru_maxrss < 90 * 1024, usage.ru_maxrss        # KiB: far below the archive size
        tf = tarfile.open(path, mode="r|gz")
        h = {}
        for m in tf:
            f = tf.extractfile(m)
            d = hashlib.sha256()
            n = 0
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                d.update(chunk)
                n += len(chunk)
                if m.name in ("SHA256SUMS", "SHA256SUMS.sealed"):
                    h[m.name] = chunk
            h[m.name + ".sha"] = d.hexdigest()
            h[m.name + ".size"] = n
        assert h["state.bin.size"] == size
        assert "%s  state.bin" % h["state.bin.sha"] in h["SHA256SUMS"].decode()
        # The restore moves the 160 MiB again: its deadline scales with that, not a fixed 30 s.
        r = s.vault("vault-0", "operator", "raft", "snapshot", "restore", "big.snap",
                    timeout=work_timeout(size))
        assert r.returncode == 0, r.stderr
