"""Starts tests/fake/fakecluster for a test and stops it afterwards.

    with FakeCluster(tmp_path / "fake", "--replicas", "5") as f:
        f.kubeconfig, f.url, f.control("settings", {"latency_ms": 50}), f.exec_log()

Several fakes behind one kubeconfig (a context each, plus an unreachable one):

    with FakeCluster(d / "a") as a, FakeCluster(d / "b") as b, Unreachable() as dead:
        merged_kubeconfig(d / "kubeconfig", [("prod", a), ("stage", b), ("dr", dead)])
"""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
KUBECTL_DIR = "/usr/lib/google-cloud-sdk/bin"


class _Zygote:
    """This test process's fakecluster zygote (fakekube/zygote.py): a process with the server
    imported that forks a fake per request, about 0.2 s sooner and a third of the CPU."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, %r); "
             "from fakekube.zygote import serve; serve()" % HERE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            start_new_session=True)

    def ask(self, req):
        with self.lock:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise OSError("the fakecluster zygote ended")
        return json.loads(line)


class _Forked:
    """A fake forked by the zygote: the part of subprocess.Popen that FakeCluster uses. It
    stays a zombie of the zygote until poll() finds it ended, so its pid is never another
    process's while it may be signalled."""

    def __init__(self, zygote, pid):
        self.zygote = zygote
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                self.returncode = self.zygote.ask({"op": "poll", "pid": self.pid})["returncode"]
            except (OSError, ValueError, KeyError):
                self.returncode = -1  # the zygote is gone, and its children with it
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.time() + timeout
        while self.poll() is None:
            if deadline is not None and time.time() > deadline:
                raise subprocess.TimeoutExpired("fakecluster", timeout)
            time.sleep(0.02)
        return self.returncode


_zygote = None
_zygote_lock = threading.Lock()


def _start_fake(args, log_path):
    """A fakecluster process with args, its output in log_path: forked by this test process's
    zygote, or started afresh when there is none."""
    global _zygote
    try:
        with _zygote_lock:
            if _zygote is None or _zygote.proc.poll() is not None:
                _zygote = _Zygote()
            z = _zygote
        pid = z.ask({"op": "start", "argv": list(args), "log": log_path,
                     "env": dict(os.environ), "cwd": os.getcwd()})["pid"]
        return _Forked(z, pid)
    except (OSError, ValueError, KeyError):
        with open(log_path, "w") as log:
            return subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "fakecluster")] +
                                    list(args), stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)


class FakeCluster:
    def __init__(self, state_dir, *args):
        self.state_dir = str(state_dir)
        self.args = list(args)
        self.proc = None

    def __enter__(self):
        os.makedirs(self.state_dir, exist_ok=True)
        self.proc = _start_fake(["--state-dir", self.state_dir] + self.args,
                                os.path.join(self.state_dir, "server.log"))
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(self.state_dir, "ready")):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                try:
                    with open(os.path.join(self.state_dir, "server.log")) as f:
                        log = f.read()
                except OSError as e:
                    log = "(no log: %s)" % e
                raise RuntimeError("fakecluster did not start:\n" + log)
            time.sleep(0.05)
        self.kubeconfig = os.path.join(self.state_dir, "kubeconfig")
        with open(os.path.join(self.state_dir, "server.url")) as f:
            self.url = f.read().strip()
        with open(os.path.join(self.state_dir, "control.url")) as f:
            self.control_url = f.read().strip()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.proc = None

    def control(self, action, body=None):
        req = urllib.request.Request("%s/_fake/%s" % (self.control_url, action),
                                     data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def _lines(self, name):
        try:
            with open(os.path.join(self.state_dir, name)) as f:
                return [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def exec_log(self):
        return self._lines("exec.log")

    def audit_log(self):
        return self._lines("audit.log")

    def proxy_log(self):
        """Every pods/proxy request that reached a pod (namespace, pod, method, path, status)."""
        return self._lines("proxy.log")

    def hostile_log(self):
        """What hostile exec peers saw of the client (the Close it answered with)."""
        return self._lines("hostile.log")

    def kubectl(self, *args, version=None, input=None, timeout=60, env=None):
        """Runs a real kubectl (kubectl.1.NN with version=) against the fake."""
        binary = os.path.join(KUBECTL_DIR, "kubectl.%s" % version) if version else \
            (shutil.which("kubectl") or os.path.join(KUBECTL_DIR, "kubectl"))
        e = dict(os.environ)
        e["KUBECONFIG"] = self.kubeconfig
        e.update(env or {})
        return subprocess.run([binary] + list(args), env=e, input=input, capture_output=True,
                              timeout=timeout, text=not isinstance(input, bytes))


class Unreachable:
    """An API server address that accepts TCP connections and never answers (a cluster behind a
    dead VPN): clients hang in the TLS handshake until their own deadline."""

    def __enter__(self):
        import socket
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = "https://127.0.0.1:%d" % self.sock.getsockname()[1]
        return self

    def __exit__(self, *exc):
        self.sock.close()


def merged_kubeconfig(path, contexts, current=None):
    """Writes ONE kubeconfig with a context per cluster: contexts is a list of (name, target),
    target a running FakeCluster (its admin user and namespace) or an Unreachable (or any
    object with .url). Returns path."""
    import yaml
    clusters, users, ctxs = [], [], []
    for name, target in contexts:
        if isinstance(target, FakeCluster):
            with open(target.kubeconfig) as f:
                kc = yaml.safe_load(f)
            ctx = next(c for c in kc["contexts"] if c["name"] == "fake")["context"]
            cluster = next(c for c in kc["clusters"] if c["name"] == ctx["cluster"])["cluster"]
            user = next(u for u in kc["users"] if u["name"] == ctx["user"])["user"]
            namespace = ctx.get("namespace", "vault")
        else:
            cluster = {"server": target.url, "insecure-skip-tls-verify": True}
            user = {"token": "unreachable"}
            namespace = "vault"
        clusters.append({"name": name, "cluster": cluster})
        users.append({"name": name, "user": user})
        ctxs.append({"name": name, "context": {"cluster": name, "user": name,
                                               "namespace": namespace}})
    doc = {"apiVersion": "v1", "kind": "Config",
           "current-context": current or contexts[0][0],
           "clusters": clusters, "users": users, "contexts": ctxs}
    with open(path, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    os.chmod(path, 0o600)
    return str(path)
