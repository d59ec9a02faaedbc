"""Hostile peers (issue 12): an API server and pods that break the protocols on purpose,
through the fake's switches (tests/fake/README.md, `settings {"hostile": MODE}`). Each case
must end with a clear error, in bounded memory, with nothing on stdout or stderr that a
terminal would act on (the escape sequences come back visible, escaped)."""
import os
import re
import subprocess
import threading
import time

import pytest

from conftest import BIN, SLOWDOWN

# What the fake puts into text (tests/fake/fakekube/server.py ESCAPES), and how the plugin
# must show it: every control byte as a visible \xNN escape.
ESCAPES = "\x1b]52;c;aGFja2Vk\x07\x1b[2J\x1b[1;31m"
SHOWN = "\\x1b]52;c;aGFja2Vk\\x07\\x1b[2J\\x1b[1;31m"

# Peak RSS the plugin may reach against a peer that sends without end. An unbounded buffer
# passes it within the first second of such a stream; the plugin needs a tenth of it.
RSS_LIMIT_KIB = 160 * 1024

# A deadline for "ends by itself" that holds on a busy machine: the waits are polls.
DEADLINE = 120


def hostile(fake, mode, match=""):
    fake.control("settings", {"hostile": mode, "hostile_match": match})


def run_measured(fake, args, timeout=DEADLINE, binary=False, extra_env=None):
    """Runs the plugin, sampling its peak RSS (VmHWM, KiB) from /proc until it exits.
    Returns (returncode, stdout, stderr, peak_kib); the process is killed at the timeout,
    which fails the caller's exit-code check."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR", "VAULT_TOKEN")}
    env["HOME"] = "/nonexistent"
    env["KUBECONFIG"] = str(fake.kubeconfig)
    # Under ASan, freed blocks wait in a quarantine: off, so the RSS is the program's.
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0"
                           ":thread_local_quarantine_size_kb=0").lstrip(":")
    env.update(extra_env or {})
    p = subprocess.Popen([BIN] + list(args), env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except (OSError, ValueError):
                pass
            done.wait(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out = bytearray()
    # stdout of an endless exec is drained (up to a bound) so the plugin is never blocked.
    reader = threading.Thread(target=lambda: drain(p.stdout, out))
    reader.start()
    timer = threading.Timer(timeout * SLOWDOWN, p.kill)
    timer.start()
    try:
        err = p.stderr.read()
        p.wait()
    finally:
        timer.cancel()
        done.set()
        sampler.join()
        reader.join()
    # Killed at the deadline: None, which no caller expects (it did not end by itself).
    rc = p.returncode if p.returncode >= 0 else None
    if binary:
        return rc, bytes(out), err, peak[0]
    return rc, out.decode(errors="replace"), err.decode(errors="replace"), peak[0]


def drain(stream, out, keep=1 << 20):
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            return
        if len(out) < keep:
            out += chunk[:keep - len(out)]


def assert_sane(text):
    """Nothing a terminal acts on: no control character but newline and tab."""
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f]
    assert not bad, "control characters reached the terminal: %r" % text


# ---------------------------------------------------------------- escape sequences in text
def test_escape_sequences_in_names_and_messages(make_fake):
    fake = make_fake("--pod-state", "vault-2=Pending:Unschedulable")
    hostile(fake, "escape")
    rc, out, err, _ = run_measured(fake, ["status"])
    assert rc == 3, err
    assert_sane(out + err)
    lines = out.splitlines()
    assert lines[0] == ("StatefulSet vault/vault (release vault%s, hashicorp/vault:1.21.2%s): "
                        "0/3 ready" % (SHOWN, SHOWN))
    # The escaped node name is cut to the NODE column's 40 characters.
    assert re.search(r"vault-0 +Running .* node-0" + re.escape(SHOWN[:31]) + r"\.\.\.$",
                     lines[3]), lines[3]
    assert "  - vault-2 is not running: Pending (Unschedulable: 0/3 nodes are available" in out
    assert SHOWN in out.split("Unschedulable: 0/3 nodes are available", 1)[1].splitlines()[0]


def test_escape_sequences_in_a_status_error(fake):
    hostile(fake, "escape")
    rc, out, err, _ = run_measured(fake, ["--context", "fake-denied", "status"])
    assert rc == 1
    assert out == ""
    assert_sane(err)
    assert "RBAC denies" in err and SHOWN in err


def test_escape_sequences_from_a_pod(make_fake):
    fake = make_fake("--vault-opt", "preset=ha")
    hostile(fake, "escape")
    # The exec Status of a command that cannot start carries the escapes in its message.
    rc, out, err, _ = run_measured(fake, ["exec", "vault-0", "--", "no-such-program"])
    assert rc == 1
    assert_sane(err)
    assert err == ('kubectl vault-ha: exec in vault-0: Internal error occurred: error executing '
                   'command in container: failed to exec in container: failed to start exec: OCI '
                   'runtime exec failed: exec: "no-such-program": executable file not found in '
                   '$PATH: unknown%s\n' % SHOWN)
    # Vault's own error lines on stderr, as the plugin quotes them.
    rc, out, err, _ = run_measured(fake, ["peers"], extra_env={"VAULT_TOKEN": "hvs.bad"})
    assert rc == 1
    assert_sane(err)
    assert err == ("kubectl vault-ha: list-peers on vault-0 failed: permission denied%s (the "
                   "token is wrong or lacks read on sys/storage/raft/configuration)\n" % SHOWN)


def test_escape_sequences_in_a_refusal(fake):
    hostile(fake, "reason-escape")
    rc, out, err, _ = run_measured(fake, ["exec", "--", "true"])
    assert rc == 1
    assert out == ""
    assert_sane(err)
    assert err == ("kubectl vault-ha: exec in vault-0: the API server answered 500 to GET "
                   "/api/v1/namespaces/vault/pods/vault-0/exec?container=vault&stdout=true&"
                   "stderr=true&command=true: upgrade refused%s\n" % SHOWN)


# ---------------------------------------------------------------- endless output
def test_endless_output_to_status_ends_with_an_error(fake):
    hostile(fake, "endless-stdout", match="status")
    # The hostile peer is the exec'd `vault status`: read by exec, not through pods/proxy.
    rc, out, err, peak = run_measured(fake, ["--read-via", "exec", "status"])
    assert rc in (1, 2, 3), err
    assert peak < RSS_LIMIT_KIB, peak
    assert_sane(out + err)
    for pod in ("vault-0", "vault-1", "vault-2"):
        assert ("  - %s: cannot read its vault status: exec in %s: stdout is over the limit of "
                "4194304 bytes (a command that does not stop printing?)" % (pod, pod)) in out, out


def test_endless_stderr_to_status_ends_with_an_error(fake):
    hostile(fake, "endless-stderr", match="status")
    # The hostile peer is the exec'd `vault status`: read by exec, not through pods/proxy.
    rc, out, err, peak = run_measured(fake, ["--read-via", "exec", "status"])
    assert rc in (1, 2, 3), err
    assert peak < RSS_LIMIT_KIB, peak
    assert_sane(out + err)


def test_endless_secret_output_to_init_is_capped(fake, tmp_path):
    hostile(fake, "endless-stdout", match="operator init")
    rc, out, err, peak = run_measured(fake, ["init", "--output", str(tmp_path / "keys.json")])
    assert rc == 1, err
    assert peak < RSS_LIMIT_KIB, peak
    assert not (tmp_path / "keys.json").exists()
    assert_sane(out + err)
    assert out == ""
    assert err == ("Initializing Vault on vault-0...\nkubectl vault-ha: exec in vault-0: stdout "
                   "is over the limit of 4194304 bytes (a command that does not stop printing?)\n")


def test_endless_output_of_exec_streams_in_flat_memory(fake):
    hostile(fake, "endless-stdout")
    rc, out, err, peak = run_measured(fake, ["exec", "--timeout", "3s", "--", "true"],
                                      binary=True)
    assert rc == 1
    assert out.startswith(b"y\ny\ny\n")
    assert b"did not finish within 3000 ms" in err, err
    assert peak < RSS_LIMIT_KIB, peak


# ---------------------------------------------------------------- broken frames
def test_truncated_frame(fake):
    hostile(fake, "truncated-frame")
    rc, out, err, _ = run_measured(fake, ["exec", "--", "true"])
    assert rc == 1
    assert out == "123456789"
    assert err == ("kubectl vault-ha: exec in vault-0: the stream was cut before the command "
                   "finished (9 bytes received; the connection was closed without a WebSocket "
                   "Close)\n")


def test_oversized_frame_streams_without_buffering(fake):
    hostile(fake, "oversized-frame", match="status")
    # The hostile peer is the exec'd `vault status`: read by exec, not through pods/proxy.
    rc, out, err, peak = run_measured(fake, ["--read-via", "exec", "status"])
    assert rc in (1, 2, 3), err
    assert peak < RSS_LIMIT_KIB, peak
    assert_sane(out + err)


def test_oversized_status_is_refused(fake):
    hostile(fake, "oversized-status")
    rc, out, err, peak = run_measured(fake, ["exec", "--", "true"])
    assert rc == 1
    assert peak < RSS_LIMIT_KIB, peak
    assert re.fullmatch(r"kubectl vault-ha: exec in vault-0: the exec status is larger than "
                        r"\d+ bytes\n", err), err


@pytest.mark.parametrize("code", [0, 999, 1005, 1006, 1015, 5000])
def test_invalid_close_code_is_answered_with_1002(fake, code):
    hostile(fake, "close-code:%d" % code)
    rc, out, err, _ = run_measured(fake, ["exec", "--", "true"])
    assert rc == 1
    assert out == ""
    assert_sane(err)
    assert "vault-0" in err and str(code) in err, err
    log = fake.hostile_log()
    assert log and log[-1]["sent"] == code
    assert log[-1]["client_close"] == 1002, log


def test_valid_close_code_without_status_is_echoed(fake):
    hostile(fake, "close-code:1001")
    rc, out, err, _ = run_measured(fake, ["exec", "--", "true"])
    assert rc == 1
    assert err == ("kubectl vault-ha: exec in vault-0: the stream was cut before the command "
                   "finished (0 bytes received; the API server closed it with code 1001 and no "
                   "exit status)\n")
    assert fake.hostile_log()[-1]["client_close"] == 1001


def test_101_followed_by_garbage(fake):
    hostile(fake, "garbage-after-101")
    rc, out, err, _ = run_measured(fake, ["exec", "--", "true"])
    assert rc == 1
    assert out == ""
    assert err == ("kubectl vault-ha: exec in vault-0: WebSocket protocol error from the API "
                   "server: a frame has reserved bits (RSV1-3) set, but no extension was "
                   "negotiated\n")


def test_status_that_is_not_json(fake):
    hostile(fake, "status-not-json")
    rc, out, err, _ = run_measured(fake, ["exec", "--", "true"])
    assert rc == 1
    assert_sane(err)
    assert err == ("kubectl vault-ha: exec in vault-0: the exec status is not a JSON object: "
                   "<html>Bad Gateway%s</html>\n" % SHOWN)


def test_hostile_mode_only_where_it_matches(fake):
    """The switch itself: a match limits it to those commands; off again, all is normal."""
    hostile(fake, "garbage-after-101", match="no-such-command")
    rc, out, err, _ = run_measured(fake, ["exec", "--", "echo", "fine"])
    assert (rc, out, err) == (0, "fine\n", "")
    hostile(fake, "")
    rc, out, err, _ = run_measured(fake, ["exec", "--", "echo", "fine"])
    assert (rc, out, err) == (0, "fine\n", "")
