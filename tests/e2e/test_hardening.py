"""Issue 12 (hardening) through the plugin: secret hygiene and hostile input
from pods and the API server, each against the fake (tests/fake)."""
import os
import shutil
import subprocess

import pytest

from conftest import BIN, RELEASE_BIN, run_plugin, sanitized


def no_memlock_prefix():
    """A command prefix under which mlock fails: RLIMIT_MEMLOCK 0, and (for root) no
    CAP_IPC_LOCK, which would override the limit."""
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is needed")
    prefix = ["prlimit", "--memlock=0:0", "--"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv (util-linux) is needed as root")
        prefix = ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock"] + prefix
    return prefix


@pytest.mark.skipif(sanitized(RELEASE_BIN),
                    reason="ASan turns mlock into a no-op that succeeds")
def test_mlock_failure_warned_once(fake):
    """A token is a secret in locked memory; when locking fails the user hears it once,
    with how to raise the limit, and the command goes on."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update({"HOME": "/nonexistent", "KUBECONFIG": fake.kubeconfig,
                "VAULT_TOKEN": "hvs.some-token"})
    r = subprocess.run(no_memlock_prefix() + [RELEASE_BIN, "status"], env=env,
                       capture_output=True, text=True, timeout=60)
    lines = [l for l in r.stderr.splitlines() if "cannot lock the secrets' memory" in l]
    assert len(lines) == 1, r.stderr
    assert lines[0] == (
        "kubectl vault-ha: warning: cannot lock the secrets' memory (mlock: Operation not "
        "permitted): the keys could reach swap; raise the locked-memory limit (RLIMIT_MEMLOCK, "
        "now 0 KiB): `ulimit -l 1024` in the shell, memlock in /etc/security/limits.conf, or "
        "LimitMEMLOCK= in a systemd unit"), r.stderr
    # It went on to the status screen.
    assert "Cluster: " in r.stdout, r.stdout


def test_vault_token_with_newline_refused(fake):
    """A newline in VAULT_TOKEN would end the line `sh` reads in the pod and hand the rest
    to the CLI as its stdin: refused before anything runs."""
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig,
                   env={"VAULT_TOKEN": "hvs.abc\nvault token revoke -self"})
    assert r.returncode == 1, r.stderr
    assert r.stderr == ("kubectl vault-ha: VAULT_TOKEN: the token holds a control character "
                        "(0x0a at byte 8); a token is one line of printable text\n")
    assert r.stdout == ""
    # Only `vault status` ran (no token needed for it); nothing read the token's lines.
    assert all(e["command"] == ["vault", "status", "-format=json"] for e in fake.exec_log())


def test_no_credential_to_plain_http_server(fake):
    """--server http://...: no credential of any kind leaves, an exec plugin's token
    neither (the plugin does not even run); the warning names the user held back."""
    import http.server
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(dict(self.headers))
            body = b'{"kind":"Status","status":"Failure","message":"nope","code":404}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d" % srv.server_address[1]
        for context, user, kind in (("fake-exec", "exec-user", "exec plugin"),
                                    ("fake-token", "token-user", "token")):
            seen.clear()
            r = run_plugin(["--context", context, "--server", url, "status"],
                           kubeconfig=fake.kubeconfig)
            assert r.returncode == 1, r.stderr
            assert seen, r.stderr
            for headers in seen:
                assert "Authorization" not in headers, headers
            warning = r.stderr.splitlines()[0]
            assert warning.startswith("kubectl vault-ha: warning: server %s is not https: the "
                                      "credentials of user \"%s\" (%s" % (url, user, kind)), \
                r.stderr
            assert warning.endswith(") are not sent"), r.stderr
        assert not os.path.exists(os.path.join(fake.state_dir, "plugin-runs"))
    finally:
        srv.shutdown()


def test_init_pgp_keys_too_long_refused(fake):
    """Long keybase: entries overflowed the stack buffer of the -pgp-keys flag (a
    `len += snprintf` past the end): now refused before anything runs in a pod."""
    entries = "keybase:" + "a" * 1950 + ",keybase:b,keybase:c,keybase:d,keybase:e"
    r = run_plugin(["init", "--pgp-keys", entries], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1, r.stderr
    assert r.stderr == ("kubectl vault-ha: --pgp-keys: the list of keys is too long (at most "
                        "1899 characters after the key files are copied)\n"), r.stderr
    assert not any("init" in e["command"] for e in fake.exec_log())


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace shows the fsync calls")
def test_init_output_fsyncs_the_directory(fake, tmp_path):
    """The keys file is the only copy of the keys: after a crash its directory entry
    must be on disk too, so the directory is fsync'd after the file (as snapshot save)."""
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    out = keys_dir / "vault-keys.json"
    trace = tmp_path / "strace.log"
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update({"HOME": "/nonexistent", "KUBECONFIG": fake.kubeconfig})
    env["ASAN_OPTIONS"] = "detect_leaks=0"  # LeakSanitizer cannot run under ptrace
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat,fsync,close", "-o", str(trace),
                        BIN, "init", "--output", str(out)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.exists()
    file_fd = dir_fd = None
    events = []
    for line in trace.read_text().splitlines():
        parts = line.split(None, 1)
        call = parts[1] if len(parts) > 1 else ""
        if call.startswith("openat(") and '"%s"' % out in call and "O_EXCL" in call:
            file_fd = int(call.rsplit("=", 1)[1])
            events.append("open file")
        elif call.startswith("openat(") and '"%s"' % keys_dir in call and "O_DIRECTORY" in call:
            dir_fd = int(call.rsplit("=", 1)[1])
            events.append("open dir")
        elif call.startswith("fsync(") and events and events[-1] == "open dir" and \
                call.startswith("fsync(%d)" % dir_fd):
            events.append("fsync dir")
        elif call.startswith("fsync(") and events and events[-1] == "open file" and \
                call.startswith("fsync(%d)" % file_fd):
            events.append("fsync file")
    assert events == ["open file", "fsync file", "open dir", "fsync dir"], trace.read_text()


def image_tool(fake, name, script):
    """Puts a tool into the fake pods' image (DIR/image-bin comes first on their PATH)."""
    d = os.path.join(fake.state_dir, "image-bin")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o755)


# `vault` in the pods: the simulator's, except for the cases a test takes over.
# The real one is the next on PATH once image-bin is left out.
VAULT_WRAPPER = """#!/bin/sh
real() { PATH=${PATH#*:} exec vault "$@"; }
case "$HOSTNAME $*" in
%s
*) real "$@";;
esac
"""


def run_measured(args, env, timeout=120):
    """Runs the plugin; returns (returncode, stdout, stderr, its peak RSS in KiB)."""
    import threading
    import time
    full_env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    full_env["HOME"] = "/nonexistent"
    full_env.update(env)
    p = subprocess.Popen([BIN] + list(args), env=full_env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = {}
    readers = [threading.Thread(target=lambda k=k, f=f: got.__setitem__(k, f.read()))
               for k, f in (("out", p.stdout), ("err", p.stderr))]
    for t in readers:
        t.start()
    deadline = time.time() + timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        if time.time() > deadline:
            p.kill()
            pid, status, usage = os.wait4(p.pid, 0)
            break
        time.sleep(0.05)
    p.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        t.join()
    p.stdout.close()
    p.stderr.close()
    return p.returncode, got["out"].decode(errors="replace"), got["err"].decode(
        errors="replace"), usage.ru_maxrss


def test_endless_init_output_is_capped(fake):
    """A pod whose `vault operator init` prints forever: init's secret output buffer (in
    locked memory) stops at its cap with a clear error instead of growing without end."""
    image_tool(fake, "vault", VAULT_WRAPPER % '"vault-0 operator init"*) exec yes "endless";;')
    rc, out, err, peak_kib = run_measured(["init"], {"KUBECONFIG": fake.kubeconfig})
    assert rc == 1, err
    assert err == ("Initializing Vault on vault-0...\n"
                   "kubectl vault-ha: exec in vault-0: stdout is over the limit of 4194304 "
                   "bytes (a command that does not stop printing?)\n"), err
    assert out == ""
    assert peak_kib < 150 * 1024, peak_kib  # the cap is 4 MiB; ASan's shadow adds some


def test_endless_status_output_is_capped(fake):
    """Every buffer of remote data has its cap: `vault status` printing forever on stdout
    (vault-1) or stderr (vault-2) is told as such, the other pods answer as usual."""
    image_tool(fake, "vault", VAULT_WRAPPER % (
        '"vault-1 status"*) exec yes "{";;\n'
        '"vault-2 status"*) exec yes "endless" >&2;;'))
    # The endless peers are the exec'd CLI: read by exec, not through pods/proxy.
    rc, out, err, peak_kib = run_measured(["--read-via", "exec", "status", "-o", "json"],
                                          {"KUBECONFIG": fake.kubeconfig})
    import json
    doc = json.loads(out)
    errors = {p["name"]: p["vault"].get("error") for p in doc["pods"]}
    assert errors["vault-0"] is None, doc
    assert errors["vault-1"] == ("exec in vault-1: stdout is over the limit of 4194304 bytes (a "
                                 "command that does not stop printing?)"), doc
    assert errors["vault-2"] == ("exec in vault-2: stderr is over the limit of 65536 bytes (a "
                                 "command that does not stop printing?)"), doc
    assert peak_kib < 150 * 1024, peak_kib


def test_endless_local_key_file_is_capped(fake):
    """--pgp-keys /dev/zero: a local file is read up to a cap too, never without end."""
    rc, out, err, peak_kib = run_measured(["init", "--pgp-keys", "/dev/zero"],
                                          {"KUBECONFIG": fake.kubeconfig}, timeout=60)
    assert rc == 1, err
    assert err == "kubectl vault-ha: /dev/zero is larger than 1048576 bytes\n", err
    assert peak_kib < 150 * 1024, peak_kib
    assert not any("init" in e["command"] for e in fake.exec_log())


# --- terminal escapes from the API server and from pods (lib/text) ------------------------

OSC52 = "\x1b]52;c;ZXZpbA==\x07"            # writes "evil" to the clipboard
OSC52_SHOWN = "\\x1b]52;c;ZXZpbA==\\x07"    # what the user sees instead


def assert_no_controls(text):
    """Nothing a terminal would act on: no C0 control but newline and tab, no DEL, no C1."""
    for i, c in enumerate(text):
        o = ord(c)
        if (o < 0x20 and c not in "\n\t") or o == 0x7f or 0x80 <= o <= 0x9f:
            raise AssertionError("control character %r at %d in %r" % (c, i, text))


def test_status_message_with_escapes_is_escaped(fake):
    """The API server's Status message (here it quotes the command) reaches the terminal with
    its escape sequences made visible."""
    r = run_plugin(["exec", "--", OSC52], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1, r.stderr
    assert_no_controls(r.stderr)
    assert r.stderr == (
        "kubectl vault-ha: exec in vault-0: Internal error occurred: error executing command "
        "in container: failed to exec in container: failed to start exec: OCI runtime exec "
        "failed: exec: \"%s\": executable file not found in $PATH: unknown\n" % OSC52_SHOWN)


def test_vault_stderr_with_escapes_is_escaped(fake):
    """What Vault prints on stderr in a pod (quoted in our messages) is escaped."""
    image_tool(fake, "vault", VAULT_WRAPPER % (
        '"vault-0 operator init"*) printf "Error initializing:\\n\\n* boom \\033[2J\\033]52;c;'
        'ZXZpbA==\\007 \\302\\233 \\377\\n" >&2; exit 2;;'))
    r = run_plugin(["init"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1, r.stderr
    assert_no_controls(r.stderr)
    assert r.stderr == ("Initializing Vault on vault-0...\n"
                        "kubectl vault-ha: vault operator init on vault-0 failed: boom "
                        "\\x1b[2J%s \\u009b \\xff\n" % OSC52_SHOWN), r.stderr


def test_pod_reason_with_escapes_is_escaped(make_fake):
    """A pod's reason (the API server's text) in the status table and in messages."""
    f = make_fake("--pod-state", "vault-2=Pending:Evil\x1b[2J\x1b]0;pwned\x07")
    r = run_plugin(["status"], kubeconfig=f.kubeconfig)
    assert_no_controls(r.stdout)
    assert_no_controls(r.stderr)
    row = [l for l in r.stdout.splitlines() if l.startswith("vault-2 ")]
    assert len(row) == 1, r.stdout
    # Not a reason Kubernetes writes (one CamelCase word): the table shows the phase, the
    # findings the text, escaped.
    assert row[0].split()[1] == "Pending", r.stdout
    header = r.stdout.splitlines()[2]
    assert header.index("READY") == row[0].index("false"), r.stdout
    assert ("  - vault-2 is not running: Pending (Evil\\x1b[2J\\x1b]0;pwned\\x07: 0/3 nodes are "
            "available: ") in r.stdout
    r = run_plugin(["unseal", "vault-2"], kubeconfig=f.kubeconfig)
    assert r.returncode == 64, r.stderr
    assert r.stderr == ("kubectl vault-ha: vault-2 is not running (Pending: "
                        "Evil\\x1b[2J\\x1b]0;pwned\\x07: 0/3 nodes are available: 3 node(s) "
                        "didn't match pod anti-affinity rules. preemption: 0/3 nodes are "
                        "available.)\n"), r.stderr


def test_statefulset_name_with_escapes_is_escaped(make_fake):
    """Names come from the API server too: two StatefulSets, one named with an escape."""
    f = make_fake("--second-vault", "vault:ev\x1b]0;x\x07il")
    r = run_plugin(["status"], kubeconfig=f.kubeconfig)
    assert r.returncode == 1, r.stderr
    assert_no_controls(r.stderr)
    assert "(release ev\\x1b]0;x\\x07il)" in r.stderr, r.stderr
    assert "choose one with --release or --statefulset" in r.stderr, r.stderr


def test_exec_stdout_to_a_pipe_stays_byte_exact(fake):
    """exec's stdout into a pipe or file is the command's bytes, escapes and all; its
    stderr, shown on the terminal, is escaped."""
    r = subprocess.run([BIN, "exec", "--", "sh", "-c",
                        "printf '\\033]52;c;ZXZpbA==\\007\\302\\233\\377\\r\\n'; "
                        "printf '\\033[2Jerr\\n' >&2"],
                       env={**{k: v for k, v in os.environ.items()
                               if k not in ("KUBECONFIG", "NO_COLOR")},
                            "HOME": "/nonexistent", "KUBECONFIG": fake.kubeconfig},
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"\x1b]52;c;ZXZpbA==\x07\xc2\x9b\xff\r\n"
    assert r.stderr == b"\\x1b[2Jerr\n"


# free() that reports a block still holding $VH_SECRET_PROBE: a secret freed without being
# wiped first (it stays in the heap until reused, and in a core or swap).
FREE_PROBE = r"""
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
extern void __libc_free(void *);
void free(void *p)
{
    const char *s = getenv("VH_SECRET_PROBE");
    if (p != NULL && s != NULL && *s != '\0' &&
        memmem(p, malloc_usable_size(p), s, strlen(s)) != NULL)
        write(2, "PROBE: freed unwiped\n", 21);
    __libc_free(p);
}
"""


@pytest.mark.skipif(sanitized(RELEASE_BIN), reason="ASan has its own free(): no LD_PRELOAD")
@pytest.mark.parametrize("bad", [["--request-timeout", "soon"], ["--timeout", "later"],
                                 ["-o", "xml"], ["status", "extra"]])
def test_token_copy_wiped_on_usage_errors(tmp_path, bad):
    """--token's copy (the argv string is blanked) is wiped before it is freed on every
    usage exit; one of them freed it as it was."""
    src, lib = tmp_path / "probe.c", tmp_path / "probe.so"
    src.write_text(FREE_PROBE)
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(lib), str(src)], check=True)
    secret = "sha256~Zq7probeTokenValue0123456789"
    args = bad if bad[0] == "status" else bad + ["status"]
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update({"HOME": "/nonexistent", "LD_PRELOAD": str(lib), "VH_SECRET_PROBE": secret})
    r = subprocess.run([RELEASE_BIN, "--token", secret] + args, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 64, r.stderr  # EXIT_USAGE
    assert "see 'kubectl vault-ha status --help'" in r.stderr
    assert "PROBE" not in r.stderr, r.stderr
