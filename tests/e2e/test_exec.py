"""`exec` end to end: the built plugin against the fake API server, whose exec
runs real processes behind WebSocket v5/v4 (docs/kubernetes.md §1)."""
import hashlib
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import BIN, SLOWDOWN

V4_WARNING = "cannot signal the end of stdin"


def plugin_env(kubeconfig):
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env["HOME"] = "/nonexistent"
    env["KUBECONFIG"] = str(kubeconfig)
    return env


def run_bytes(fake, args, input=None, timeout=120):
    """Runs the plugin with bytes in and out."""
    return subprocess.run([BIN] + list(args), env=plugin_env(fake.kubeconfig), input=input,
                          capture_output=True, timeout=timeout * SLOWDOWN)


def run_text(fake, args, input=None, timeout=120):
    return subprocess.run([BIN] + list(args), env=plugin_env(fake.kubeconfig), input=input,
                          capture_output=True, text=True, timeout=timeout * SLOWDOWN)


def peak_rss_kib(pid, done, result):
    """Samples the process's own peak RSS (VmHWM) until done is set. (ru_maxrss from wait4
    would include the RSS of the forking test process.)"""
    while not done.is_set():
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        result[0] = max(result[0], int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        done.wait(0.01)


def stream_cat(fake, path, args=()):
    """`exec -i -- cat` with stdin from path; returns (sha256 of stdout, bytes, rc, stderr,
    seconds, peak RSS in KiB of the plugin process)."""
    h = hashlib.sha256()
    total = 0
    with open(path, "rb") as f:
        t0 = time.monotonic()
        env = plugin_env(fake.kubeconfig)
        # Under ASan, freed blocks sit in a quarantine (hundreds of MiB): turn it off so the
        # RSS is the program's. Ignored by the release build.
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                               ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0").lstrip(":")
        p = subprocess.Popen([BIN] + list(args) + ["exec", "-i", "--", "cat"], env=env, stdin=f,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        done, rss = threading.Event(), [0]
        sampler = threading.Thread(target=peak_rss_kib, args=(p.pid, done, rss))
        sampler.start()
        while True:
            chunk = p.stdout.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            total += len(chunk)
        err = p.stderr.read()
        # Sample once more while the process has ended its output but may still live.
        time.sleep(0.02)
        done.set()
        sampler.join()
        p.wait()
        seconds = time.monotonic() - t0
    return h.hexdigest(), total, p.returncode, err.decode(errors="replace"), seconds, rss[0]


def random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_cat_64mib_round_trip_in_constant_memory(fake, tmp_path):
    small = tmp_path / "small.bin"
    big = tmp_path / "big.bin"
    small_sha = random_file(small, 1 << 20)
    big_sha = random_file(big, 64 << 20)

    sha, total, rc, err, _, rss_small = stream_cat(fake, small)
    assert rc == 0, err
    assert (sha, total) == (small_sha, 1 << 20)

    sha, total, rc, err, seconds, rss_big = stream_cat(fake, big)
    assert rc == 0, err
    assert total == 64 << 20
    assert sha == big_sha
    # Constant memory: 64 MiB of stream costs no more than 1 MiB does (a few MiB of noise).
    assert 0 < rss_small and 0 < rss_big < 64 * 1024, (rss_small, rss_big)
    assert rss_big - rss_small < 4 * 1024, (rss_small, rss_big)
    print("\n64 MiB through cat: %.2f s, %.1f MiB/s; max RSS %d KiB (1 MiB run: %d KiB)"
          % (seconds, 64 / seconds, rss_big, rss_small))


def test_output_into_files_exactly(fake, tmp_path):
    """Stdout redirected to a file (written with O_DIRECT in aligned pieces, the tail plain),
    appended to a file (plain writes), and shared with stderr (> f 2>&1): the bytes are exactly
    the stream's, and the shared file gets stderr too."""
    src = tmp_path / "src.bin"
    sha = random_file(src, (5 << 20) + 12345)
    with open(src, "rb") as f:
        data = f.read()
    env = plugin_env(fake.kubeconfig)
    cmd = [BIN, "exec", "-i", "--", "cat"]

    out = tmp_path / "out.bin"
    with open(src, "rb") as i, open(out, "wb") as o:
        r = subprocess.run(cmd, env=env, stdin=i, stdout=o, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == sha

    appended = tmp_path / "appended.bin"
    appended.write_bytes(b"head\n")
    with open(src, "rb") as i, open(appended, "ab") as o:
        r = subprocess.run(cmd, env=env, stdin=i, stdout=o, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr
    assert appended.read_bytes() == b"head\n" + data

    both = tmp_path / "both.txt"
    script = "head -c 1048576 /dev/zero; echo warning >&2; head -c 1048576 /dev/zero"
    with open(both, "wb") as o:
        r = subprocess.run([BIN, "exec", "--", "sh", "-c", script], env=env, stdout=o, stderr=o,
                           timeout=120)
    assert r.returncode == 0
    got = both.read_bytes()
    assert len(got) == (2 << 20) + 8 and got.count(b"warning\n") == 1
    assert got.replace(b"warning\n", b"") == bytes(2 << 20)


def test_stdout_and_stderr_stay_apart(fake):
    r = run_text(fake, ["exec", "--", "sh", "-c", "echo out1; echo err1 >&2; echo out2"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "out1\nout2\n"
    assert r.stderr == "err1\n"


@pytest.mark.parametrize("script,code", [("exit 0", 0), ("exit 2", 2), ("kill -9 $$", 137)])
def test_exit_code_is_the_commands(fake, script, code):
    r = run_text(fake, ["exec", "--", "sh", "-c", script])
    assert r.returncode == code, r.stderr
    assert r.stderr == ""


def test_missing_executable_is_an_error(fake):
    r = run_text(fake, ["exec", "--", "no-such-program-here"])
    assert r.returncode == 1
    assert "exec in vault-0:" in r.stderr
    assert "no-such-program-here" in r.stderr


def test_binary_output_passes_unchanged(fake):
    r = run_bytes(fake, ["exec", "--", "printf", "\\000\\001\\r\\n\\377end"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"\x00\x01\r\n\xffend"


def test_arguments_arrive_intact(fake):
    args = ["a+b", "c d", "x&y=z", "h\u00e9llo", "50%", "%2B", ""]
    r = run_text(fake, ["exec", "--", "printf", "[%s]"] + args)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "".join("[%s]" % a for a in args)
    argvs = [e["command"] for e in fake.exec_log()]
    assert ["printf", "[%s]"] + args in argvs


def test_stdin_end_reaches_the_command_on_v5(fake):
    r = run_text(fake, ["exec", "-i", "--", "wc", "-c"], input="12345")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "5"
    assert V4_WARNING not in r.stderr


def test_v4_server_cannot_end_stdin(make_fake):
    fake = make_fake("--max-protocol", "v4")
    # A length-bounded reader works on v4.
    r = run_text(fake, ["exec", "-i", "--", "head", "-c", "5"], input="hello world")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello"
    # A reader that waits for the end of input never gets it: we say why, and the
    # timeout ends it with a clear error instead of a hang.
    r = run_text(fake, ["exec", "-i", "--timeout", "3s", "--", "cat"], input="data\n", timeout=60)
    assert r.returncode == 1
    assert r.stdout == "data\n"
    assert V4_WARNING in r.stderr
    assert "v4.channel.k8s.io" in r.stderr
    assert "did not finish within 3000 ms" in r.stderr
    assert "head -c N" in r.stderr


def test_v4_server_runs_commands_without_stdin(make_fake):
    fake = make_fake("--max-protocol", "v4")
    r = run_text(fake, ["exec", "--", "sh", "-c", "echo v4 ok; exit 3"])
    assert r.returncode == 3, r.stderr
    assert r.stdout == "v4 ok\n"


def test_offering_only_v5_to_a_v4_server_is_a_bare_403(make_fake):
    fake = make_fake("--max-protocol", "v4")
    r = run_text(fake, ["exec", "--exec-protocols", "v5", "--", "true"])
    assert r.returncode == 1
    assert ("the API server does not speak the exec protocol offered (v5.channel.k8s.io); "
            "Kubernetes >= 1.30") in r.stderr
    assert "RBAC" not in r.stderr


def test_rbac_403_names_the_verbs(fake):
    # The user may find the StatefulSet and its pods, and has "get" on pods/exec but not
    # "create" (needed for WebSocket exec since 1.35).
    fake.control("rbac", {"user": "limited", "rules": [
        {"verbs": ["get", "list"], "resources": ["statefulsets", "pods"], "namespace": "vault"},
        {"verbs": ["get"], "resources": ["pods/exec"], "namespace": "vault"}]})
    r = run_text(fake, ["--context", "fake-limited", "exec", "--", "true"])
    assert r.returncode == 1
    assert ('exec in vault-0: RBAC denies exec: grant verbs "get" and "create" on resource '
            '"pods/exec" in namespace "vault"') in r.stderr
    assert 'cannot create resource \\"pods/exec\\"' in r.stderr or \
        'cannot create resource "pods/exec"' in r.stderr
    assert "does not speak the exec protocol" not in r.stderr
    assert fake.exec_log() == []


def test_stream_cut_mid_way_is_an_error(make_fake):
    fake = make_fake("--cut-after", "100000")
    r = run_bytes(fake, ["exec", "--", "sh", "-c", "head -c 10000000 /dev/zero; exit 0"])
    assert r.returncode == 1
    assert b"the stream was cut before the command finished" in r.stderr
    assert len(r.stdout) < 10000000


def test_exec_all_prefixes_lines_per_pod(fake):
    r = run_text(fake, ["exec", "--all", "--", "sh", "-c",
                        "echo one; echo two; echo warn >&2; printf tail"])
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    err = r.stderr.splitlines()
    for pod in ("vault-0", "vault-1", "vault-2"):
        assert [l for l in out if l.startswith(pod + ": ")] == [
            pod + ": one", pod + ": two", pod + ": tail"]
        assert pod + ": warn" in err


def test_exec_named_pods_and_worst_exit_code(fake):
    # The fake's pods have HOSTNAME=<pod>, as in Kubernetes.
    r = run_text(fake, ["exec", "vault-1", "2", "--", "sh", "-c",
                        'echo "I am $HOSTNAME"; case "$HOSTNAME" in *-1) exit 4;; esac'])
    assert r.returncode == 4, r.stderr
    assert sorted(r.stdout.splitlines()) == ["vault-1: I am vault-1", "vault-2: I am vault-2"]
    assert sorted(e["pod"] for e in fake.exec_log()) == ["vault-1", "vault-2"]


def test_exec_default_pod_is_ordinal_0(fake):
    r = run_text(fake, ["exec", "--", "sh", "-c", 'echo "$HOSTNAME"'])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "vault-0\n"
    log = fake.exec_log()
    assert [(e["pod"], e["container"], e["protocol"]) for e in log] == [
        ("vault-0", "vault", "v5.channel.k8s.io")]
    assert "tty" not in log[0]["uri"] and "stdin" not in log[0]["uri"]


def test_stdin_only_for_one_pod(fake):
    r = run_text(fake, ["exec", "--all", "-i", "--", "cat"], input="x")
    assert r.returncode == 64
    assert "-i passes stdin to one pod only" in r.stderr


def test_command_required(fake):
    r = run_text(fake, ["exec", "vault-0"])
    assert r.returncode == 64
    assert 'exec needs a command after "--"' in r.stderr


def test_unknown_pod(fake):
    r = run_text(fake, ["exec", "vault-9", "--", "true"])
    assert r.returncode == 64
    assert 'no pod "vault-9"' in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_ends_the_session(fake, sig):
    """Ctrl-C, and SIGTERM too (plugin/interrupt.c), end the streams and say so."""
    p = subprocess.Popen([BIN, "exec", "--", "sleep", "60"], env=plugin_env(fake.kubeconfig),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Ctrl-C once the session runs (however long a busy machine takes to get there).
    deadline = time.monotonic() + 60
    while not any(e["command"] == ["sleep", "60"] for e in fake.exec_log()):
        assert p.poll() is None and time.monotonic() < deadline, "the exec did not start"
        time.sleep(0.05)
    time.sleep(0.2)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert err == "kubectl vault-ha: interrupted\n"


def exec_statuses(fake):
    return [e["status"] for e in fake.audit_log() if "/exec?" in e["uri"]]


def test_401_on_upgrade_refreshes_plugin_credentials_and_retries_once(fake):
    fake.control("fail", {"path": "/api/v1/namespaces/vault/pods/vault-0/exec", "status": 401,
                          "count": 1})
    r = run_text(fake, ["--context", "fake-exec", "exec", "--", "echo", "ok"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"
    assert exec_statuses(fake) == [401, 101]


def test_401s_of_parallel_upgrades_share_one_credential_refresh(fake):
    """exec --all: three upgrades in parallel threads all get a 401; the exec plugin runs once
    for the refresh (not once per thread), and every pod's command runs."""
    for pod in ("vault-0", "vault-1", "vault-2"):
        fake.control("fail", {"path": "/api/v1/namespaces/vault/pods/%s/exec" % pod,
                              "status": 401, "count": 1})
    r = run_text(fake, ["--context", "fake-exec", "exec", "--all", "--", "echo", "ok"])
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ["vault-0: ok", "vault-1: ok", "vault-2: ok"]
    assert sorted(exec_statuses(fake)) == [101, 101, 101, 401, 401, 401]
    with open(os.path.join(fake.state_dir, "plugin-runs")) as f:
        assert f.read().count("run") == 2  # the first credential, one refresh


def test_401_on_upgrade_with_a_static_token_is_not_retried(fake):
    fake.control("fail", {"path": "/api/v1/namespaces/vault/pods/vault-0/exec", "status": 401,
                          "count": 2})
    r = run_text(fake, ["--context", "fake-token", "exec", "--", "echo", "ok"])
    assert r.returncode == 1
    assert "exec in vault-0: the API server at " in r.stderr
    assert "rejected the credentials" in r.stderr
    assert exec_statuses(fake) == [401]
