"""Starts the fake API server with its simulated Vault releases and writes the
state directory (kubeconfig, ca.crt, server.url, control.url, logs, ready)."""
import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import ssl
import sys

import yaml
from aiohttp import web

from . import sealconfig
from .certs import CA
from .resources import Release
from .server import Server

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.join(os.path.dirname(HERE), "fake-credential-plugin")


def parse(argv):
    p = argparse.ArgumentParser(prog="fakecluster")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--namespace", default="vault")
    p.add_argument("--release", default="vault")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--second-vault", action="append", default=[],
                   help="NAMESPACE[:RELEASE] another Vault release")
    p.add_argument("--openbao", action="store_true")
    p.add_argument("--vault-version", default=None)
    p.add_argument("--tls", action="store_true", help="Vault listener TLS (VAULT_ADDR https)")
    p.add_argument("--set-node-id", action="store_true")
    p.add_argument("--max-protocol", choices=["v5", "v4"], default="v5")
    p.add_argument("--cut-after", type=int, default=0)
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--hostile", default=None,
                   help="a hostile exec peer: escape, endless-stdout, endless-stderr, "
                        "truncated-frame, oversized-frame, oversized-status, close-code:N, "
                        "garbage-after-101, status-not-json, reason-escape")
    p.add_argument("--hostile-match", default="",
                   help="only execs whose command line contains this text are hostile")
    p.add_argument("--restart-seconds", type=float, default=0.0,
                   help="a deleted pod terminates, then is ContainerCreating, this long in all")
    p.add_argument("--pod-state", action="append", default=[],
                   help="POD=STATE: Pending[:Reason], CrashLoopBackOff, missing")
    p.add_argument("--vault-opt", action="append", default=[], help="KEY=VALUE for the simulator")
    p.add_argument("--audit-storage", action="store_true",
                   help="the chart's auditStorage: audit-<sts>-N PVCs too")
    p.add_argument("--data-path", default=None,
                   help="the chart's server.dataStorage.mountPath, also the raft path in the "
                        "server config (default /vault/data, /openbao/data)")
    p.add_argument("--patch", action="append", default=[],
                   help="KIND/NAME=JSON merge patch on an object of the first release "
                        "(null deletes it), e.g. Service/vault-internal='{\"spec\": ...}'")
    opts = p.parse_args(argv)
    opts.hostile_close_code = None
    if opts.hostile and opts.hostile.startswith("close-code:"):
        opts.hostile, opts.hostile_close_code = "close-code", opts.hostile.split(":", 1)[1]
    return opts


def fullname_of(release, chart):
    return release if chart in release else "%s-%s" % (release, chart)


def b64(data):
    return base64.b64encode(data).decode()


async def serve(opts):
    sd = os.path.abspath(opts.state_dir)
    os.makedirs(sd, exist_ok=True)
    sys.path.insert(0, os.path.dirname(HERE))
    from vaultsim import VaultCluster

    srv = Server(sd, opts)
    vopts = dict(kv.split("=", 1) for kv in opts.vault_opt)
    chart = "openbao" if opts.openbao else "vault"
    specs = [(opts.namespace, opts.release)]
    for extra in opts.second_vault:
        ns, _, rel = extra.partition(":")
        specs.append((ns, rel or "vault"))
    states = dict(s.split("=", 1) for s in opts.pod_state)
    for i, (ns, rel) in enumerate(specs):
        fullname = fullname_of(rel, chart)
        kw = dict(namespace=ns, release=rel, fullname=fullname, replicas=opts.replicas,
                  workdir=os.path.join(sd, "vault", ns, rel), tls=opts.tls,
                  set_node_id=opts.set_node_id, openbao=opts.openbao, options=vopts)
        if opts.vault_version:
            kw["version"] = opts.vault_version
        cluster = VaultCluster(**kw)
        r = Release(i, cluster, ns, rel, fullname, opts.replicas, opts.openbao,
                    states if i == 0 else {})
        r.audit_storage = opts.audit_storage
        r.data_path = opts.data_path
        r.restart_seconds = opts.restart_seconds
        if i == 0:
            for spec in opts.patch:
                target, _, patch = spec.partition("=")
                kind, _, name = target.partition("/")
                if kind == "Node":
                    srv.node_patches[name] = json.loads(patch)
                else:
                    r.patches[(kind, name)] = json.loads(patch)
        srv.releases.append(r)
        sealconfig.install(srv, r)
        # Raft joins resolve <pod>.<sts>-internal through the same records nslookup sees:
        # a name that lags or is missing fails the join the way real DNS would.
        cluster.model.dns_hook = (lambda rel: lambda pod: srv.pod_dns_ip(rel, pod))(r)

    # Users: admin by client certificate; token users; RBAC rules per user.
    ca = CA()
    server_cert, server_key = ca.issue("fake-apiserver", server_names=["127.0.0.1", "localhost"])
    admin_cert, admin_key = ca.issue("admin", "system:masters", client=True)
    tokens = {name: "%s-%s" % (name, secrets.token_hex(12))
              for name in ("token-user", "tokenfile-user", "exec-user", "limited", "denied")}
    for name, tok in tokens.items():
        srv.users[tok] = name
    everything = [(("*",), ("*",), None)]
    for u in ("admin", "token-user", "tokenfile-user", "exec-user"):
        srv.rules[u] = everything
    srv.rules["limited"] = [(("get", "list"), ("statefulsets",), opts.namespace)]
    srv.rules["denied"] = []

    def write(name, data, mode=0o600):
        path = os.path.join(sd, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        os.chmod(path, mode)
        return path

    write("ca.crt", ca.pem, 0o644)
    cert_file = write("server.crt", server_cert)
    key_file = write("server.key", server_key)
    write("tokenfile", tokens["tokenfile-user"] + "\n")

    sslctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sslctx.load_cert_chain(cert_file, key_file)
    sslctx.load_verify_locations(cadata=ca.pem.decode())
    sslctx.verify_mode = ssl.CERT_OPTIONAL
    sslctx.set_alpn_protocols(["h2", "http/1.1"]) if False else None

    control_runner = web.AppRunner(srv.control_app())
    await control_runner.setup()
    control_site = web.TCPSite(control_runner, "127.0.0.1", 0)
    await control_site.start()
    srv.control_port = control_site._server.sockets[0].getsockname()[1]
    for r in srv.releases:
        for pod in r.pods:
            srv.pod_env(r, pod)  # registers endpoints and creates the sandboxes

    api_runner = web.AppRunner(srv.api_app(), handle_signals=False)
    await api_runner.setup()
    api_site = web.TCPSite(api_runner, "127.0.0.1", opts.port, ssl_context=sslctx)
    await api_site.start()
    port = api_site._server.sockets[0].getsockname()[1]
    url = "https://127.0.0.1:%d" % port

    cluster = {"server": url, "certificate-authority-data": b64(ca.pem)}
    users = [
        {"name": "admin", "user": {"client-certificate-data": b64(admin_cert),
                                   "client-key-data": b64(admin_key)}},
        {"name": "token-user", "user": {"token": tokens["token-user"]}},
        {"name": "tokenfile-user", "user": {"tokenFile": "tokenfile"}},
        {"name": "exec-user", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": PLUGIN,
            "args": ["--token", tokens["exec-user"]],
            "env": [{"name": "FAKE_PLUGIN_COUNTER", "value": os.path.join(sd, "plugin-runs")}],
            "interactiveMode": "Never", "installHint": "it ships with the tests"}}},
        {"name": "limited", "user": {"token": tokens["limited"]}},
        {"name": "denied", "user": {"token": tokens["denied"]}},
        {"name": "badtoken", "user": {"token": "not-a-valid-token"}},
    ]
    contexts = [("fake", "admin"), ("fake-token", "token-user"),
                ("fake-tokenfile", "tokenfile-user"), ("fake-exec", "exec-user"),
                ("fake-limited", "limited"), ("fake-denied", "denied"),
                ("fake-badtoken", "badtoken")]
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                  "clusters": [{"name": "fake", "cluster": cluster}], "users": users,
                  "contexts": [{"name": n, "context": {"cluster": "fake", "user": u,
                                                       "namespace": opts.namespace}}
                               for n, u in contexts]}
    write("kubeconfig", yaml.safe_dump(kubeconfig, sort_keys=False))
    write("server.url", url + "\n", 0o644)
    write("control.url", "http://127.0.0.1:%d\n" % srv.control_port, 0o644)
    write("ready", "%d\n" % os.getpid(), 0o644)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for p in list(srv.procs):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if srv.proxy_session is not None:
        await srv.proxy_session.close()
    await api_runner.cleanup()
    await control_runner.cleanup()


def main(argv=None):
    opts = parse(argv if argv is not None else sys.argv[1:])
    asyncio.run(serve(opts))
