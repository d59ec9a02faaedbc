"""The fake Kubernetes API server: HTTPS with client-certificate and bearer
token authentication, RBAC, the Helm chart's objects, the real server's error
bodies (facts/kubernetes.md §2), and exec over WebSocket v5/v4 running real
processes (facts §1). A plain-HTTP control port on loopback serves the Vault
simulator's HTTP API and a control API for tests."""
import asyncio
import base64
import json
import os
import re
import signal
import urllib.parse

from aiohttp import WSMsgType, web

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V1 = "channel.k8s.io"


def json_response(obj, status=200, headers=None):
    """JSON the way the API server sends it: Content-Type application/json, no charset."""
    return web.Response(body=json.dumps(obj).encode(), status=status, headers=headers,
                        content_type="application/json")


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details is not None:
        body["details"] = details
    return json_response(body, status=code)


# What a hostile peer puts into text that ends up on the user's terminal: OSC 52 (writes the
# clipboard), clear screen, and a colour that would paint everything after it.
ESCAPES = "\x1b]52;c;aGFja2Vk\x07\x1b[2J\x1b[1;31m"

# Hostile exec behaviours (settings {"hostile": MODE, "hostile_match": TEXT}); see README.md.
HOSTILE_MODES = ("escape", "endless-stdout", "endless-stderr", "truncated-frame",
                 "oversized-frame", "oversized-status", "close-code", "garbage-after-101",
                 "status-not-json", "reason-escape")


def taint(text):
    return text + ESCAPES if isinstance(text, str) else text


def taint_object(doc):
    """Escape sequences in what a client prints of an API object: Status messages, the
    StatefulSet's release label and image, the pods' node names and scheduling messages."""
    if not isinstance(doc, dict):
        return doc
    if doc.get("kind") == "Status":
        doc["message"] = taint(doc.get("message"))
    for obj in doc.get("items", []) if isinstance(doc.get("items"), list) else [doc]:
        meta = obj.get("metadata", {})
        labels = meta.get("labels") or {}
        if "app.kubernetes.io/instance" in labels and obj.get("kind", "StatefulSet") != "Pod" \
                and "template" in obj.get("spec", {}):
            labels["app.kubernetes.io/instance"] = taint(labels["app.kubernetes.io/instance"])
            for c in obj["spec"]["template"]["spec"].get("containers", []):
                c["image"] = taint(c.get("image"))
        spec, status = obj.get("spec", {}), obj.get("status", {})
        if "nodeName" in spec:
            spec["nodeName"] = taint(spec["nodeName"])
        for cond in status.get("conditions", []) if isinstance(status, dict) else []:
            if "message" in cond:
                cond["message"] = taint(cond["message"])
    return doc


def plural_group(resource):
    return {"statefulsets": "apps"}.get(resource.split("/")[0], "")


class Server:
    def __init__(self, state_dir, options):
        self.state_dir = state_dir
        self.opts = options
        self.releases = []
        self.users = {}        # token -> user
        self.rules = {}        # user -> list of (verbs, resources, namespace or None)
        self.latency_ms = options.latency_ms
        self.cut_after = options.cut_after
        self.max_protocol = options.max_protocol
        self.hostile = options.hostile         # one of HOSTILE_MODES, or None
        self.hostile_match = options.hostile_match
        self.hostile_close_code = options.hostile_close_code
        self.failures = []     # [path_prefix, status, remaining, retry_after]
        self.control_port = None
        self.exec_log = open(os.path.join(state_dir, "exec.log"), "a", buffering=1)
        self.audit_log = open(os.path.join(state_dir, "audit.log"), "a", buffering=1)
        self.hostile_log = open(os.path.join(state_dir, "hostile.log"), "a", buffering=1)
        self.procs = set()

    # --- model ---------------------------------------------------------------------------------
    def namespaces(self):
        names = {"default", "kube-system"}
        names.update(r.namespace for r in self.releases)
        return sorted(names)

    def find_release(self, ns, pod=None, sts=None):
        for r in self.releases:
            if r.namespace != ns:
                continue
            if pod is not None and pod in r.pods and r.state(pod) != "missing":
                return r
            if sts is not None and r.fullname == sts:
                return r
        return None

    def endpoint(self, ns, pod):
        return "http://127.0.0.1:%d/_vault/%s/%s" % (self.control_port, ns, pod)

    def pod_env(self, r, pod):
        i = r.pods[pod]["ordinal"]
        env = dict(r.cluster.container_env(pod, r.pod_ip(i), r.host_ip(i),
                                           self.endpoint(r.namespace, pod)))
        root = os.path.join(self.state_dir, "pods", r.namespace, pod)
        home = os.path.join(root, "home")
        os.makedirs(home, exist_ok=True)
        env["HOME"] = home
        # The pod's DNS: the headless service publishes every scheduled pod
        # (publishNotReadyAddresses), answered by fakekube/bin/nslookup.
        hosts = os.path.join(root, "hosts")
        with open(hosts, "w") as f:
            for other in r.existing_pods():
                if not r.state(other).startswith("Pending"):
                    f.write("%s %s.%s-internal\n" % (r.pod_ip(r.pods[other]["ordinal"]), other,
                                                     r.fullname))
        env["FAKE_HOSTS_FILE"] = hosts
        # <state-dir>/image-bin first: tests put tools there that the image has in a
        # different build (e.g. a busybox dd that does not report bytes copied).
        env["PATH"] = "%s:%s:%s:/usr/local/bin:/usr/bin:/bin" % (
            os.path.join(self.state_dir, "image-bin"), r.cluster.bin_dir(),
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin"))
        return env, root

    # --- auth and RBAC -------------------------------------------------------------------------
    def authenticate(self, request):
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return self.users.get(auth[7:].strip())
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return None
            return user if self.users.get("basic:" + user) == pw else None
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        if peer:
            for rdn in peer.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
        return None

    def allowed(self, user, verb, resource, ns):
        for verbs, resources, rule_ns in self.rules.get(user, []):
            if ("*" in verbs or verb in verbs) and ("*" in resources or resource in resources) \
                    and (rule_ns is None or rule_ns == ns):
                return True
        return False

    def forbidden(self, user, verb, resource, ns, name=None):
        group = plural_group(resource)
        gr = resource.split("/")[0] + ("." + group if group else "")
        what = '%s "%s"' % (gr, name) if name else gr
        where = ' in the namespace "%s"' % ns if ns else " at the cluster scope"
        msg = '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s"%s' % (
            what, user, verb, resource, group, where)
        details = {"kind": resource.split("/")[0], "group": group} if group else \
            {"kind": resource.split("/")[0]}
        if name:
            details["name"] = name
        return status_body(403, "Forbidden", msg, details)

    # --- middleware ----------------------------------------------------------------------------
    @web.middleware
    async def middleware(self, request, handler):
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000.0)
        user = self.authenticate(request)
        resp = None
        if user is None:
            resp = status_body(401, "Unauthorized", "Unauthorized")
        else:
            request["user"] = user
            for f in self.failures:
                if request.path.startswith(f[0]) and f[2] > 0:
                    f[2] -= 1
                    headers = {"Retry-After": str(f[3])} if f[3] is not None else {}
                    resp = web.Response(status=f[1], text="Too many requests, please try again "
                                        "later.\n", headers=headers, content_type="text/plain")
                    break
        if resp is None:
            try:
                resp = await handler(request)
            except web.HTTPNotFound:
                resp = web.Response(status=404, text="404 page not found\n",
                                    content_type="text/plain")
        if self.hostile == "escape" and isinstance(resp, web.Response) and \
                resp.content_type == "application/json" and resp.body:
            resp.body = json.dumps(taint_object(json.loads(resp.body))).encode()
        status = getattr(resp, "status", 101)
        self.audit_log.write(json.dumps({"method": request.method, "uri": request.path_qs,
                                         "user": user, "status": status}) + "\n")
        return resp

    # --- discovery -----------------------------------------------------------------------------
    async def version(self, request):
        return json_response({"major": "1", "minor": "33", "gitVersion": "v1.33.1",
                                  "platform": "linux/amd64", "goVersion": "go1.24.2",
                                  "compiler": "gc", "buildDate": "2026-05-15T00:00:00Z",
                                  "gitCommit": "fake", "gitTreeState": "clean"})

    async def api(self, request):
        return json_response({"kind": "APIVersions", "versions": ["v1"],
                                  "serverAddressByClientCIDRs": [
                                      {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]})

    async def apis(self, request):
        def group(name, version):
            gv = {"groupVersion": "%s/%s" % (name, version), "version": version}
            return {"name": name, "versions": [gv], "preferredVersion": gv}
        return json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            group("apps", "v1"), group("discovery.k8s.io", "v1")]})

    async def api_v1(self, request):
        def res(name, kind, namespaced=True, verbs=("get", "list"), short=None):
            r = {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
                 "verbs": list(verbs)}
            if short:
                r["shortNames"] = short
            return r
        return json_response({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            res("namespaces", "Namespace", False, short=["ns"]),
            res("pods", "Pod", verbs=("get", "list", "delete"), short=["po"]),
            {"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions",
             "verbs": ["create", "get"]},
            res("services", "Service", short=["svc"]),
            res("endpoints", "Endpoints", short=["ep"])]})

    async def apis_apps_v1(self, request):
        return json_response({"kind": "APIResourceList", "apiVersion": "v1",
                                  "groupVersion": "apps/v1", "resources": [
                                      {"name": "statefulsets", "singularName": "",
                                       "namespaced": True, "kind": "StatefulSet",
                                       "verbs": ["get", "list"], "shortNames": ["sts"]}]})

    async def apis_discovery_v1(self, request):
        return json_response({"kind": "APIResourceList", "apiVersion": "v1",
                                  "groupVersion": "discovery.k8s.io/v1", "resources": [
                                      {"name": "endpointslices", "singularName": "",
                                       "namespaced": True, "kind": "EndpointSlice",
                                       "verbs": ["get", "list"]}]})

    # --- lists and objects ---------------------------------------------------------------------
    def listing(self, kind, api_version, items):
        for it in items:
            it.pop("kind", None)
            it.pop("apiVersion", None)
        return json_response({"kind": kind, "apiVersion": api_version,
                                  "metadata": {"resourceVersion": "1"}, "items": items})

    def check(self, request, verb, resource, ns, name=None):
        user = request["user"]
        if not self.allowed(user, verb, resource, ns):
            return self.forbidden(user, verb, resource, ns, name)
        return None

    def not_found(self, resource, name, group=None):
        """The real server's 404 Status for a named object."""
        qualified = "%s.%s" % (resource, group) if group else resource
        details = {"name": name, "kind": resource}
        if group:
            details["group"] = group
        return status_body(404, "NotFound", '%s "%s" not found' % (qualified, name), details)

    def pod_of(self, request, verb, resource="pods"):
        """RBAC check and lookup of the pod a request names: (release, name, None), or
        (None, name, the error response)."""
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self.check(request, verb, resource, ns, name)
        if denied is not None:
            return None, name, denied
        r = self.find_release(ns, pod=name)
        if r is None:
            return None, name, self.not_found("pods", name)
        return r, name, None

    @staticmethod
    def namespace_object(n):
        return {"kind": "Namespace", "apiVersion": "v1",
                "metadata": {"name": n, "uid": n, "resourceVersion": "1",
                             "creationTimestamp": "2026-01-01T00:00:00Z",
                             "labels": {"kubernetes.io/metadata.name": n}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    async def list_namespaces(self, request):
        denied = self.check(request, "list", "namespaces", None)
        if denied is not None:
            return denied
        return self.listing("NamespaceList", "v1",
                            [self.namespace_object(n) for n in self.namespaces()])

    async def get_namespace(self, request):
        # kubectl get asks for the namespace after a NotFound, to tell "no such
        # namespace" from "no such object".
        name = request.match_info["ns"]
        denied = self.check(request, "get", "namespaces", None, name)
        if denied is not None:
            return denied
        if name not in self.namespaces():
            return self.not_found("namespaces", name)
        return json_response(self.namespace_object(name))

    def pod_objects(self, ns):
        out = []
        for r in self.releases:
            if ns is None or r.namespace == ns:
                out.extend(r.pod_object(p) for p in r.existing_pods())
        return out

    async def list_pods(self, request):
        ns = request.match_info.get("ns")
        denied = self.check(request, "list", "pods", ns)
        if denied is not None:
            return denied
        try:
            items = [p for p in self.pod_objects(ns)
                     if selector_matches(request.query.get("labelSelector", ""),
                                         p["metadata"]["labels"])
                     and field_matches(request.query.get("fieldSelector", ""), p)]
        except ValueError as e:
            return status_body(400, "BadRequest", "unable to parse requirement: %s" % e)
        return self.listing("PodList", "v1", items)

    async def get_pod(self, request):
        r, name, error = self.pod_of(request, "get")
        if error is not None:  # (a Response is an empty mapping: falsy)
            return error
        return json_response(r.pod_object(name))

    async def delete_pod(self, request):
        r, name, error = self.pod_of(request, "delete")
        if error is not None:
            return error
        obj = r.pod_object(name)
        obj["metadata"]["deletionTimestamp"] = obj["metadata"]["creationTimestamp"]
        # The StatefulSet controller recreates it at once; the Vault process restarts sealed.
        r.restart(name)
        r.cluster.pod_deleted(name)
        return json_response(obj)

    async def pod_log(self, request):
        r, name, error = self.pod_of(request, "get", "pods/log")
        if error is not None:
            return error
        lines = r.cluster.logs(name).splitlines(True)
        tail = request.query.get("tailLines")
        if tail is not None:
            lines = lines[-int(tail):] if int(tail) > 0 else []
        return web.Response(text="".join(lines), content_type="text/plain")

    async def list_statefulsets(self, request):
        ns = request.match_info.get("ns")
        denied = self.check(request, "list", "statefulsets", ns)
        if denied is not None:
            return denied
        items = [r.statefulset_object() for r in self.releases
                 if ns is None or r.namespace == ns]
        try:
            items = [s for s in items if selector_matches(request.query.get("labelSelector", ""),
                                                          s["metadata"]["labels"])]
        except ValueError as e:
            return status_body(400, "BadRequest", "unable to parse requirement: %s" % e)
        return self.listing("StatefulSetList", "apps/v1", items)

    async def get_statefulset(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self.check(request, "get", "statefulsets", ns, name)
        if denied is not None:
            return denied
        r = self.find_release(ns, sts=name)
        if r is None:
            return self.not_found("statefulsets", name, "apps")
        return json_response(r.statefulset_object())

    async def list_services(self, request):
        ns = request.match_info["ns"]
        denied = self.check(request, "list", "services", ns)
        if denied is not None:
            return denied
        items = [s for r in self.releases if r.namespace == ns for s in r.services()]
        return self.listing("ServiceList", "v1", items)

    async def get_service(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self.check(request, "get", "services", ns, name)
        if denied is not None:
            return denied
        for r in self.releases:
            for s in r.services():
                if r.namespace == ns and s["metadata"]["name"] == name:
                    return json_response(s)
        return self.not_found("services", name)

    async def get_endpoints(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self.check(request, "get", "endpoints", ns, name)
        if denied is not None:
            return denied
        for r in self.releases:
            for s in r.services():
                if r.namespace != ns or s["metadata"]["name"] != name:
                    continue
                sel = s["spec"]["selector"]
                ready, not_ready = [], []
                for p in r.existing_pods():
                    obj = r.pod_object(p)
                    if not all(obj["metadata"]["labels"].get(k) == v for k, v in sel.items()):
                        continue
                    if "podIP" not in obj["status"]:
                        continue
                    addr = {"ip": obj["status"]["podIP"], "hostname": p,
                            "nodeName": obj["spec"].get("nodeName"),
                            "targetRef": {"kind": "Pod", "name": p, "namespace": ns}}
                    (ready if r.ready(p) else not_ready).append(addr)
                subset = {"addresses": ready + (not_ready if s["spec"].get(
                    "publishNotReadyAddresses") else []),
                    "ports": [{"name": pt["name"], "port": pt["port"], "protocol": "TCP"}
                              for pt in s["spec"]["ports"]]}
                if not s["spec"].get("publishNotReadyAddresses") and not_ready:
                    subset["notReadyAddresses"] = not_ready
                return json_response(
                    {"kind": "Endpoints", "apiVersion": "v1",
                     "metadata": {"name": name, "namespace": ns, "resourceVersion": "1"},
                     "subsets": [subset] if subset["addresses"] else []},
                    headers={"Warning": '299 - "v1 Endpoints is deprecated in v1.33+; use '
                                        'discovery.k8s.io/v1 EndpointSlice"'})
        return self.not_found("endpoints", name)

    # --- exec ----------------------------------------------------------------------------------
    async def exec_pod(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        user = request["user"]
        if request.method not in ("GET", "POST"):
            return status_body(405, "MethodNotAllowed", "the server does not allow this method "
                               "on the requested resource")
        verb = "get" if request.method == "GET" else "create"
        if not self.allowed(user, verb, "pods/exec", ns):
            return self.forbidden(user, verb, "pods/exec", ns, name)
        # Since 1.35 a WebSocket upgrade also needs create on pods/exec.
        if not self.allowed(user, "create", "pods/exec", ns):
            return self.forbidden(user, "create", "pods/exec", ns, name)
        r = self.find_release(ns, pod=name)
        if r is None:
            return self.not_found("pods", name)
        # The raw query: decoding once, like Go's url.ParseQuery ("+" is a space, %2B a plus).
        q = urllib.parse.parse_qs(request.rel_url.raw_query_string, keep_blank_values=True)

        def flag(k):
            vals = q.get(k)
            return bool(vals) and vals[0].lower() not in ("0", "false")
        command = q.get("command", [])
        container = q.get("container", [None])[0]
        stdin, stdout, stderr, tty = flag("stdin"), flag("stdout"), flag("stderr"), flag("tty")
        if container not in (None, r.cluster.container_name):
            return status_body(400, "BadRequest", "container %s is not valid for pod %s"
                               % (container, name))
        if r.state(name).startswith("Pending"):
            return status_body(400, "BadRequest", "pod %s does not have a host assigned" % name)
        if not (stdin or stdout or stderr):
            return status_body(400, "BadRequest", "you must specify at least 1 of stdin, "
                               "stdout, stderr")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return status_body(400, "BadRequest", "Upgrade request required")
        if tty:
            stderr = False
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "")
                   .split(",") if p.strip()]
        supported = [V4, V1] if self.max_protocol == "v4" else [V5, V4, V1]
        chosen = next((p for p in offered if p in supported), None)
        if chosen is None:
            # golang/net websocket: a bodyless 403 and the connection is closed.
            request.transport.write(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            request.transport.close()
            return web.Response(status=403)
        self.exec_log.write(json.dumps({"namespace": ns, "pod": name, "container": container,
                                        "command": command, "uri": request.path_qs,
                                        "protocol": chosen}) + "\n")
        hostile = self.hostile if self.hostile and self.hostile_match in " ".join(command) \
            else None
        if hostile == "reason-escape":
            # A refusal whose reason phrase and body carry escape sequences.
            body = ("upgrade refused" + ESCAPES + "\n").encode()
            request.transport.write(("HTTP/1.1 500 Internal" + ESCAPES + "Error\r\n"
                                     "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                                     % len(body)).encode() + body)
            request.transport.close()
            return web.Response(status=500)
        ws = web.WebSocketResponse(protocols=(chosen,), autoping=True, max_msg_size=32 << 20,
                                   timeout=1.0, compress=False)
        await ws.prepare(request)
        if hostile not in (None, "escape"):
            await self.run_hostile(request, ws, hostile)
            return ws
        await self.run_exec(request, ws, r, name, command, chosen, stdin, stdout, stderr,
                            escape=hostile == "escape")
        return ws

    async def run_hostile(self, request, ws, mode):
        """An API server (or a pod) that breaks the exec protocol on purpose, after the 101.
        Frames are written raw: aiohttp would refuse to build the bad ones."""
        t = request.transport
        await ws.send_bytes(b"\x01")  # the initial empty stdout message, as a real one starts

        async def forever(header, piece):
            t.write(header)
            try:
                while not t.is_closing():
                    await asyncio.sleep(0)
                    t.write(piece)
                    # Respect flow control: wait while the client does not read.
                    while t.get_write_buffer_size() > (1 << 20) and not t.is_closing():
                        await asyncio.sleep(0.01)
            except (ConnectionResetError, RuntimeError):
                pass

        if mode in ("endless-stdout", "endless-stderr"):
            ch = 1 if mode == "endless-stdout" else 2
            piece = bytes([0x82, 126, 0x80, 0x01, ch]) + b"y\n" * ((0x8001 - 1) // 2)
            await forever(b"", piece)
        elif mode == "oversized-frame":
            # One stdout frame announcing 2^62 bytes (4 EiB), then bytes for as long as read.
            await forever(bytes([0x82, 127]) + (1 << 62).to_bytes(8, "big") + b"\x01",
                          b"x" * 65536)
        elif mode == "oversized-status":
            # The error channel (the exec Status) that never ends.
            await forever(bytes([0x82, 127]) + (1 << 40).to_bytes(8, "big") + b"\x03",
                          b'{"status":"' + b"F" * 65535)
        elif mode == "truncated-frame":
            # A frame that announces 1000 bytes, 10 of them, then FIN.
            t.write(bytes([0x82, 126, 0x03, 0xe8, 0x01]) + b"123456789")
            t.close()
        elif mode.startswith("close-code"):
            code = int(self.hostile_close_code)
            t.write(bytes([0x88, 0x02]) + code.to_bytes(2, "big"))
            answer = None
            try:
                msg = await asyncio.wait_for(ws.receive(), 10)  # the client's answer
                answer = msg.data if msg.type == WSMsgType.CLOSE else repr(msg.type)
            except asyncio.TimeoutError:
                pass
            self.hostile_log.write(json.dumps({"mode": mode, "sent": code,
                                               "client_close": answer}) + "\n")
            t.close()
        elif mode == "garbage-after-101":
            t.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>" + ESCAPES.encode())
            await asyncio.sleep(0.5)
            t.close()
        elif mode == "status-not-json":
            await ws.send_bytes(b"\x03<html>Bad Gateway" + ESCAPES.encode() + b"</html>")
            try:
                await asyncio.wait_for(ws.close(code=1000), 0.5)
            except asyncio.TimeoutError:
                pass

    async def run_exec(self, request, ws, r, pod, command, proto, want_in, want_out, want_err,
                       escape=False):
        # Exactly one empty initial frame on the lowest writable channel (facts §1.3).
        first = 1 if want_out else 2 if want_err else 3
        await ws.send_bytes(bytes([first]))
        if r.state(pod) == "CrashLoopBackOff" or not command:
            msg = "container not running (%s)" % r.cluster.container_name if command else \
                "you must specify at least one command for the container"
            await self.finish(ws, {"metadata": {}, "status": "Failure", "message":
                                   "Internal error occurred: error executing command in "
                                   "container: %s" % msg, "reason": "InternalError",
                                   "details": {"causes": [{"message": msg}]}, "code": 500},
                              escape)
            return
        env, cwd = self.pod_env(r, pod)
        try:
            if command[0] in ("sh", "/bin/sh") and not getattr(r.cluster, "has_shell", True):
                raise FileNotFoundError(command[0])  # the distroless image has no shell
            proc = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE if want_in else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cwd, env=env,
                start_new_session=True, limit=1 << 16)
        except OSError as e:
            msg = 'exec: "%s": executable file not found in $PATH' % command[0] \
                if isinstance(e, FileNotFoundError) else str(e)
            await self.finish(ws, {"metadata": {}, "status": "Failure", "message":
                                   "Internal error occurred: error executing command in "
                                   "container: failed to exec in container: failed to start "
                                   "exec: OCI runtime exec failed: %s: unknown" % msg,
                                   "reason": "InternalError", "details": {"causes": [
                                       {"message": msg}]}, "code": 500}, escape)
            return
        self.procs.add(proc)
        sent = [0]
        cut = [False]

        async def pump(stream, channel, enabled):
            while True:
                chunk = await stream.read(32 * 1024)
                if not chunk:
                    return
                if not enabled:
                    continue
                if self.cut_after and channel == 1 and sent[0] + len(chunk) > self.cut_after:
                    part = chunk[:max(0, self.cut_after - sent[0])]
                    if part:
                        await ws.send_bytes(bytes([channel]) + part)
                    cut[0] = True
                    # The connection ends without a WebSocket Close after exactly cut_after
                    # bytes: close() sends what is buffered, then FIN (abort() would drop the
                    # unsent part with an RST, so the client would get a random shorter prefix).
                    request.transport.close()
                    return
                if escape and channel == 2:
                    # A pod whose error lines end in escape sequences.
                    chunk = chunk.replace(b"\n", ESCAPES.encode() + b"\n")
                await ws.send_bytes(bytes([channel]) + chunk)
                if channel == 1:
                    sent[0] += len(chunk)

        async def receive():
            async for msg in ws:
                if msg.type != WSMsgType.BINARY and msg.type != WSMsgType.TEXT:
                    continue
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                if not data:
                    continue
                ch, payload = data[0], data[1:]
                if ch == 0 and want_in and proc.stdin is not None and payload:
                    try:
                        proc.stdin.write(payload)
                        await proc.stdin.drain()
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                elif ch == 255:
                    if proto != V5:
                        continue  # v4: out of range, ignored
                    if len(data) != 2:
                        request.transport.abort()
                        return
                    if payload == b"\x00" and proc.stdin is not None:
                        proc.stdin.close()
            # The client went away: tear the command down.
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        receiver = asyncio.ensure_future(receive())
        try:
            await asyncio.gather(pump(proc.stdout, 1, want_out), pump(proc.stderr, 2, want_err))
            if cut[0]:
                os.killpg(proc.pid, signal.SIGKILL)
            code = await proc.wait()
        finally:
            self.procs.discard(proc)
        receiver.cancel()
        if cut[0] or ws.closed:
            return
        if code < 0:
            code = 128 - code  # killed by a signal: the runtime reports 128+N
        if code == 0:
            status = {"metadata": {}, "status": "Success"}
        else:
            if proto == V5:
                text = "command terminated with exit code %d" % code
            else:
                text = "error executing command [%s], exit code %d" % (" ".join(command), code)
            status = {"metadata": {}, "status": "Failure",
                      "message": "command terminated with non-zero exit code: " + text,
                      "reason": "NonZeroExitCode",
                      "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        await self.finish(ws, status, escape)

    async def finish(self, ws, status, escape=False):
        if escape and "message" in status:
            status = dict(status, message=taint(status["message"]))
        await ws.send_bytes(b"\x03" + json.dumps(status, separators=(",", ":")).encode())
        # Close 1000 and drop the connection at once (golang/net does not wait).
        try:
            await asyncio.wait_for(ws.close(code=1000), 0.5)
        except asyncio.TimeoutError:
            pass

    # --- control -------------------------------------------------------------------------------
    async def control(self, request):
        body = await request.json() if request.can_read_body else {}
        action = request.match_info["action"]
        if action == "pod-state":
            r = self.find_any(body["namespace"], body["pod"])
            r.pod_states[body["pod"]] = body["state"]
            if body["state"] == "Running":
                r.pod_states.pop(body["pod"], None)
        elif action == "labels":
            r = self.find_any(body["namespace"], body["pod"])
            r.label_overrides.setdefault(body["pod"], {}).update(body["labels"])
        elif action == "settings":
            if "latency_ms" in body:
                self.latency_ms = int(body["latency_ms"])
            if "cut_after" in body:
                self.cut_after = int(body["cut_after"])
            if "max_protocol" in body:
                self.max_protocol = body["max_protocol"]
            if "hostile" in body:
                mode = body["hostile"] or None
                code = None
                if mode and mode.startswith("close-code:"):
                    mode, code = "close-code", mode.split(":", 1)[1]
                if mode is not None and mode not in HOSTILE_MODES:
                    return json_response({"error": "unknown hostile mode %r" % mode}, status=400)
                self.hostile, self.hostile_close_code = mode, code
                self.hostile_match = body.get("hostile_match", "")
        elif action == "fail":
            self.failures.append([body["path"], int(body.get("status", 429)),
                                  int(body.get("count", 1)), body.get("retry_after")])
        elif action == "rbac":
            self.rules[body["user"]] = [(tuple(x["verbs"]), tuple(x["resources"]),
                                         x.get("namespace")) for x in body["rules"]]
        elif action == "wipe":
            r = self.find_any(body["namespace"], body["pod"])
            r.restart(body["pod"])
            r.cluster.wipe_data(body["pod"])
        else:
            return json_response({"error": "unknown action"}, status=404)
        return json_response({"ok": True})

    def find_any(self, ns, pod):
        for r in self.releases:
            if r.namespace == ns and pod in r.pods:
                return r
        raise web.HTTPNotFound()

    # --- apps ----------------------------------------------------------------------------------
    def api_app(self):
        app = web.Application(middlewares=[self.middleware], client_max_size=64 << 20)
        ns = "/api/v1/namespaces/{ns}"
        app.add_routes([
            web.get("/version", self.version), web.get("/api", self.api),
            web.get("/apis", self.apis), web.get("/api/v1", self.api_v1),
            web.get("/apis/apps/v1", self.apis_apps_v1),
            web.get("/apis/discovery.k8s.io/v1", self.apis_discovery_v1),
            web.get("/api/v1/namespaces", self.list_namespaces),
            web.get(ns, self.get_namespace),
            web.get("/api/v1/pods", self.list_pods),
            web.get(ns + "/pods", self.list_pods),
            web.get(ns + "/pods/{name}", self.get_pod),
            web.delete(ns + "/pods/{name}", self.delete_pod),
            web.route("*", ns + "/pods/{name}/exec", self.exec_pod),
            web.get(ns + "/pods/{name}/log", self.pod_log),
            web.get(ns + "/services", self.list_services),
            web.get(ns + "/services/{name}", self.get_service),
            web.get(ns + "/endpoints/{name}", self.get_endpoints),
            web.get("/apis/apps/v1/statefulsets", self.list_statefulsets),
            web.get("/apis/apps/v1/namespaces/{ns}/statefulsets", self.list_statefulsets),
            web.get("/apis/apps/v1/namespaces/{ns}/statefulsets/{name}", self.get_statefulset),
        ])
        return app

    def control_app(self):
        app = web.Application(client_max_size=1 << 40)
        app.add_routes([web.post("/_fake/{action}", self.control)])
        for r in self.releases:
            app.add_routes(r.cluster.routes())
        return app


# --- label and field selectors (apimachinery's grammar) -------------------------------------------

_REQ = re.compile(r"\s*(!)?\s*([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|"
                  r"\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def split_selector(sel):
    parts, depth, cur = [], 0, ""
    for ch in sel:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def selector_matches(sel, labels):
    for part in split_selector(sel):
        m = _REQ.match(part)
        if not m:
            raise ValueError(part.strip())
        neg, key, op, val, setop, values = m.groups()
        if op in ("=", "=="):
            if labels.get(key) != val:
                return False
        elif op == "!=":
            if labels.get(key) == val:
                return False
        elif setop == "in":
            if labels.get(key) not in [v.strip() for v in values.split(",")]:
                return False
        elif setop == "notin":
            if key in labels and labels[key] in [v.strip() for v in values.split(",")]:
                return False
        elif neg:
            if key in labels:
                return False
        elif key not in labels:
            return False
    return True


def field_matches(sel, obj):
    for part in split_selector(sel):
        m = re.match(r"\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise ValueError(part.strip())
        path, op, val = m.groups()
        cur = obj
        for k in path.split("."):
            cur = cur.get(k, "") if isinstance(cur, dict) else ""
        if (str(cur) == val) != (op != "!="):
            return False
    return True
