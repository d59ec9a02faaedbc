"""Test support: serve one VaultCluster over HTTP from a background event loop and run the
simulated CLI in its "pods" as real subprocesses (what the fake API server's exec does).

    with SimServer(tmp_path, replicas=3) as s:
        r = s.vault("vault-0", "operator", "init", "-format=json")
"""
import asyncio
import os
import subprocess
import threading

from aiohttp import web


class SimServer:
    def __init__(self, workdir, replicas=3, namespace="vault", release="vault", fullname=None, **kwargs):
        self.workdir = str(workdir)
        self.namespace = namespace
        self.fullname = fullname or release
        self.replicas = replicas
        self._kwargs = dict(namespace=namespace, release=release, fullname=self.fullname, replicas=replicas,
                            workdir=os.path.join(self.workdir, "vault"), **kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.changes = 0
        self.vc, self.port = self.call_async(self._start())
        self.envs = {}
        for i in range(replicas):
            self.setup_pod("%s-%d" % (self.fullname, i))

    async def _start(self):
        from . import VaultCluster
        vc = VaultCluster(**self._kwargs)

        def changed():
            self.changes += 1
        vc.on_change = changed
        app = web.Application(client_max_size=1 << 40)
        app.add_routes(vc.routes())
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        return vc, port

    def setup_pod(self, pod, pod_ip=None):
        ordinal = int(pod.rsplit("-", 1)[1])
        pod_ip = pod_ip or "10.244.%d.%d" % (ordinal + 1, 17 + ordinal)
        env = self.call(self.vc.container_env, pod, pod_ip, "172.18.0.%d" % (2 + ordinal),
                        "http://127.0.0.1:%d" % self.port)
        home = os.path.join(self.workdir, "home", pod)
        os.makedirs(home, exist_ok=True)
        cwd = os.path.join(self.workdir, "cwd", pod)
        os.makedirs(cwd, exist_ok=True)
        env = dict(env)
        env["HOME"] = home
        env["PATH"] = self.vc.bin_dir() + ":/usr/bin:/bin"
        self.envs[pod] = (env, cwd)
        return env

    # -- running things in the server's loop
    def call(self, fn, *args):
        async def run():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def call_async(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    # -- pods
    def env(self, pod, extra=None):
        env, cwd = self.envs[pod]
        e = dict(env)
        e.update(extra or {})
        return e, cwd

    def vault(self, pod, *args, input=None, extra_env=None, timeout=30, binary="vault"):
        env, cwd = self.env(pod, extra_env)
        return subprocess.run([binary] + list(args), input=input, env=env, cwd=cwd, capture_output=True,
                              timeout=timeout)

    def sh(self, pod, script, input=None, extra_env=None, timeout=60):
        env, cwd = self.env(pod, extra_env)
        return subprocess.run(["/bin/sh", "-c", script], input=input, env=env, cwd=cwd, capture_output=True,
                              timeout=timeout)

    def popen(self, pod, *args, extra_env=None, binary="vault", **kw):
        env, cwd = self.env(pod, extra_env)
        return subprocess.Popen([binary] + list(args), env=env, cwd=cwd, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)

    def home(self, pod):
        return self.envs[pod][0]["HOME"]

    def cwd(self, pod):
        return self.envs[pod][1]

    def write_token(self, pod, token):
        with open(os.path.join(self.home(pod), ".vault-token"), "w") as f:
            f.write(token + "\n")

    def delete_pod(self, pod, new_ip=None):
        self.call(self.vc.pod_deleted, pod)
        if new_ip:
            self.setup_pod(pod, new_ip)

    def labels(self, pod):
        return self.call(self.vc.labels, pod)

    def ready(self, pod):
        return self.call(self.vc.ready, pod)

    def close(self):
        async def stop():
            await self._runner.cleanup()
        try:
            self.call_async(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- helpers for tests
# Deadlines are for failures only: a wait returns as soon as its condition holds, so they are
# generous enough for a machine busy with another test suite (2 cores, everything slowed down
# several times), never a measure of speed.
WAIT_SECONDS = 60.0


def work_timeout(nbytes, base=60.0, min_rate=1 << 20):
    """A subprocess timeout for a command that moves nbytes: base seconds plus the time at a
    rate (1 MiB/s) far below the slowest machine's, so a busy machine never hits it."""
    return base + nbytes / min_rate


def wait_for(pred, timeout=WAIT_SECONDS, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; raise AssertionError on timeout."""
    import time
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def jout(r):
    """stdout of a CompletedProcess as JSON (with a readable failure)."""
    import json
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise AssertionError("not JSON (rc=%s): stdout=%r stderr=%r" % (r.returncode, r.stdout, r.stderr))


def status(s, pod, **kw):
    return jout(s.vault(pod, "status", "-format=json", **kw))


def bootstrap(s, pods=None, shares=5, threshold=3, timeout=10.0):
    """The runbook through the CLI: init pods[0], unseal it, join and unseal the others.
    Returns the init JSON. Waits until every pod is an unsealed voter."""
    pods = pods or ["%s-%d" % (s.fullname, i) for i in range(s.replicas)]
    init = jout(s.vault(pods[0], "operator", "init", "-format=json", "-key-shares=%d" % shares,
                        "-key-threshold=%d" % threshold))
    keys = init["unseal_keys_b64"]
    for k in keys[:threshold]:
        s.vault(pods[0], "operator", "unseal", k)
    wait_for(lambda: status(s, pods[0]).get("is_self"), timeout, what="%s active" % pods[0])
    leader = "http://%s.%s-internal:8200" % (pods[0], s.fullname)
    for p in pods[1:]:
        r = s.vault(p, "operator", "raft", "join", leader)
        assert r.returncode == 0, r.stderr
        for k in keys[:threshold]:
            s.vault(p, "operator", "unseal", k)
    for p in pods:
        s.write_token(p, init["root_token"])
    for p in pods[1:]:
        wait_for(lambda: not status(s, p)["sealed"], timeout, what="%s unsealed" % p)

    def all_voters():
        r = s.vault(pods[0], "operator", "raft", "list-peers", "-format=json")
        if r.returncode:
            return False
        servers = jout(r)["data"]["config"]["servers"]
        return len(servers) == len(pods) and all(x["voter"] for x in servers)
    wait_for(all_voters, timeout, what="all voters")
    return init
