"""The fake Kubernetes API server: HTTPS with client-certificate and bearer
token authentication, RBAC, the Helm chart's objects, the real server's error
bodies (docs/kubernetes.md §2), and exec over WebSocket v5/v4 running real
processes (docs/kubernetes.md §1). A plain-HTTP control port on loopback serves the Vault
simulator's HTTP API and a control API for tests."""
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import time
import urllib.parse
import uuid

from aiohttp import WSMsgType, web

from . import sealconfig
from .patches import PatchError, apply_json_patch, strategic_merge_patch
from .resources import PVC_KIB, ZONES, combine_patches, merge_patch, now_rfc3339

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
                 "status-not-json", "reason-escape", "proxy-endless", "proxy-escape")
# The modes that make a pod's answer through pods/proxy hostile (the others are exec's).
PROXY_HOSTILE = ("proxy-endless", "proxy-escape")


def taint(text):
    return text + ESCAPES if isinstance(text, str) else text


def taint_strings(value):
    """Every string of a JSON value with the escapes appended (a hostile pod's HTTP answer)."""
    if isinstance(value, str):
        return taint(value)
    if isinstance(value, list):
        return [taint_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: taint_strings(v) for k, v in value.items()}
    return value


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
    return {"statefulsets": "apps", "endpointslices": "discovery.k8s.io",
            "poddisruptionbudgets": "policy",
            "leases": "coordination.k8s.io"}.get(resource.split("/")[0], "")

BIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")
# The Endpoints API's deprecation warning (docs/kubernetes.md §2.1), on every Endpoints answer.
ENDPOINTS_WARNING = '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 ' \
    'EndpointSlice"'
# What df reports as used when no test set a fill level.
DEFAULT_DISK_PERCENT = 3

# pods/proxy: the methods proxied (pkg/registry/core/pod/rest/subresources.go), the RBAC verb
# of each (apiserver requestinfo.go starts from the lower-cased method and maps only these:
# OPTIONS stays "options"), and the headers a proxy does not forward.
PROXY_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PROXY_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
               "DELETE": "delete"}
HOP_BY_HOP = ("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade")


def split_scheme_name_port(pid):
    """apimachinery SplitSchemeNamePort: name, name:port or scheme:name:port; the scheme is
    empty, http or https. (scheme, name, port) or None."""
    parts = pid.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        return None
    if not name or scheme not in ("", "http", "https") or (port and not port.isdigit()):
        return None
    return scheme, name, port


def ssar_attributes_from_protobuf(raw):
    """kubectl auth can-i posts its SelfSubjectAccessReview as protobuf: the "k8s\\0" envelope
    (runtime.Unknown, raw in field 2), spec (2), resourceAttributes (1) with namespace, verb,
    group, version, resource, subresource, name (1-7; k8s.io/api authorization/v1)."""
    from vaultsim.snapshot import parse_pb  # the simulator's decoder of raft snapshot metadata
    if not raw.startswith(b"k8s\x00"):
        raise ValueError("not a protobuf envelope")
    obj = parse_pb(parse_pb(raw[4:])[2][0])
    attrs = parse_pb(parse_pb(obj[2][0])[1][0])
    names = ("namespace", "verb", "group", "version", "resource", "subresource", "name")
    return {names[n - 1]: v[0].decode() for n, v in attrs.items() if 1 <= n <= 7}


class Server:
    def __init__(self, state_dir, options):
        self.state_dir = state_dir
        self.opts = options
        self.releases = []
        self.users = {}        # token -> user
        self.rules = {}        # user -> list of (verbs, resources, namespace or None)
        self.latency_ms = options.latency_ms
        # A real exec reaches the container through the kubelet and the runtime (tens of ms)
        # before its first frame; kubectl drops frames that come before it has set up its
        # streams ("Unknown stream id"), which an instant fake provoked under load.
        self.exec_start_ms = 25
        self.cut_after = options.cut_after
        self.max_protocol = options.max_protocol
        self.hostile = options.hostile         # one of HOSTILE_MODES, or None
        self.hostile_match = options.hostile_match
        self.hostile_close_code = options.hostile_close_code
        self.failures = []     # [path_prefix, status, remaining, retry_after]
        self.request_hooks = []  # (method, path, [{"action": ..., "body": ...}, ...])
        self.control_port = None
        self.node_patches = {}  # node name -> merge patch (None deletes the Node)
        self.created = now_rfc3339()
        self.exec_log = open(os.path.join(state_dir, "exec.log"), "a", buffering=1)
        self.audit_log = open(os.path.join(state_dir, "audit.log"), "a", buffering=1)
        self.hostile_log = open(os.path.join(state_dir, "hostile.log"), "a", buffering=1)
        self.proxy_log = open(os.path.join(state_dir, "proxy.log"), "a", buffering=1)
        self.proxy_session = None  # the API server's connection to the pods (pods/proxy)
        self.procs = set()
        self.leases = {}             # (namespace, name) -> Lease object
        self.resource_version = 1000  # etcd's revision: every write of a Lease takes the next

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
        # The container's own files (config, data volume, certificates) live under
        # <root>/fs; the fake's cat and df (fakekube/bin) map absolute paths there.
        fs = os.path.join(root, "fs")
        if pod not in r.fs_ready:
            self.make_pod_fs(r, pod, fs)
            r.fs_ready.add(pod)
        env["FAKE_POD_FS"] = fs
        # extraEnvironmentVars / extraSecretEnvironmentVars of the pod's revision
        env.update(sealconfig.template_env(r, pod))
        # The pod's own /tmp (make_pod_fs) for what a script puts in "${TMPDIR:-/tmp}".
        env["TMPDIR"] = fs + "/tmp"
        # The pod's DNS: the headless service's per-pod records, answered by
        # fakekube/bin/nslookup and getent from this hosts file.
        hosts = os.path.join(root, "hosts")
        with open(hosts, "w") as f:
            for ip, name in self.dns_records(r):
                f.write("%s %s\n" % (ip, name))
        env["FAKE_HOSTS_FILE"] = hosts
        # Tools the image lacks (a test switch): the shell answers 127, "not found".
        shadow = os.path.join(root, "shadow-bin")
        shutil.rmtree(shadow, ignore_errors=True)
        os.makedirs(shadow)
        for tool in r.missing_tools.get(pod, set()) | r.missing_tools.get("*", set()):
            path = os.path.join(shadow, tool)
            with open(path, "w") as f:
                f.write("#!/bin/sh\necho \"sh: %s: not found\" >&2\nexit 127\n" % tool)
            os.chmod(path, 0o755)
        # <state-dir>/image-bin first: tests put tools there that the image has in a
        # different build (e.g. a busybox dd that does not report bytes copied).
        env["PATH"] = "%s:%s:%s:%s:/usr/local/bin:/usr/bin:/bin" % (
            shadow, os.path.join(self.state_dir, "image-bin"), r.cluster.bin_dir(), BIN_DIR)
        return env, root

    def make_pod_fs(self, r, pod, fs):
        """The files a chart-installed pod has: the config from the ConfigMap, the data
        volume (its fill level for df), and with --tls the certificate from the TLS secret."""
        def write(path, text):
            full = fs + path
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        # Every pod has its own /tmp, as every container has (the host's is shared by every
        # fake on the machine: two tests' files there collided).
        os.makedirs(fs + "/tmp", exist_ok=True)
        # The data volume is the simulator's own data folder of that pod (node-id, raft/), so
        # what Vault writes and reads there (peers.json) is what the pod's tools see.
        os.makedirs(os.path.dirname(fs + r.data_dir()), exist_ok=True)
        if not os.path.lexists(fs + r.data_dir()):
            os.symlink(r.cluster.data_path(pod), fs + r.data_dir())
        write(r.config_dir() + "/" + sealconfig.CONFIG_KEY,
              sealconfig.configmap_data(r)[sealconfig.CONFIG_KEY])
        self.write_disk(r, pod)
        if r.cluster.tls:
            write(r.tls_dir() + "/vault.crt", r.cluster.issue_node_cert(pod))
            with open(r.cluster.ca_cert_path) as f:
                write(r.tls_dir() + "/vault.ca", f.read())

    def write_disk(self, r, pod):
        fs = os.path.join(self.state_dir, "pods", r.namespace, pod, "fs")
        percent = r.disk.get(pod, r.disk.get("*", DEFAULT_DISK_PERCENT))
        os.makedirs(fs, exist_ok=True)
        with open(os.path.join(fs, ".df"), "w") as f:
            f.write("%d %d %s\n" % (PVC_KIB, int(PVC_KIB * float(percent) / 100.0), r.data_dir()))

    def dns_records(self, r):
        """(ip, name) of the headless service's per-pod records: endpoints with a hostname,
        ready ones only unless the Service publishes not-ready addresses (CoreDNS); then the
        tests' faults: a name missing, pointing at an old IP, or lagging after a pod start."""
        sts = r.statefulset_object()
        svc = r.service((sts or {}).get("spec", {}).get("serviceName", ""))
        if svc is None or svc["spec"].get("clusterIP") != "None":
            return []
        out = []
        for subset in r.endpoints_object(svc)["subsets"]:
            for addr in subset.get("addresses", []):
                host = addr.get("hostname")
                pod = addr.get("targetRef", {}).get("name")
                if not host:
                    continue
                ip = addr["ip"]
                fault = r.dns_faults.get(pod)
                if fault is not None:
                    mode = fault.get("mode")
                    if mode == "nxdomain":
                        continue
                    if mode == "stale":
                        ip = fault.get("ip", "10.244.250.250")
                    if mode == "lag" and pod in r.pods and \
                            time.monotonic() - fault.get("from_mono", r.pods[pod]["started_mono"]) \
                            < float(fault["seconds"]):
                        continue
                out.append((ip, "%s.%s" % (host, svc["metadata"]["name"])))
        return out

    def pod_dns_ip(self, r, pod):
        """The IP the headless record of pod resolves to now, or None (no record)."""
        svc_name = ((r.statefulset_object() or {}).get("spec", {}).get("serviceName", ""))
        want = "%s.%s" % (pod, svc_name)
        for ip, name in self.dns_records(r):
            if name == want:
                return ip
        return None

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
        if resp is None and self.request_hooks:
            due = [h for h in self.request_hooks if h[0] == request.method and h[1] == request.path]
            self.request_hooks = [h for h in self.request_hooks if h not in due]
            for h in due:
                for step in h[2]:
                    await self.control_action(step["action"], step.get("body", {}))
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
                                         "user": user, "status": status,
                                         "ns": time.time_ns()}) + "\n")
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
            group("apps", "v1"), group("discovery.k8s.io", "v1"), group("policy", "v1"),
            group("coordination.k8s.io", "v1"),
            group("authorization.k8s.io", "v1")]})

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
            {"name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy",
             "version": "v1", "kind": "Eviction", "verbs": ["create"]},
            {"name": "pods/proxy", "singularName": "", "namespaced": True,
             "kind": "PodProxyOptions", "verbs": ["create", "delete", "get", "patch", "update"]},
            res("services", "Service", short=["svc"]),
            res("endpoints", "Endpoints", short=["ep"]),
            res("persistentvolumeclaims", "PersistentVolumeClaim", short=["pvc"]),
            res("nodes", "Node", False, short=["no"]),
            res("configmaps", "ConfigMap", verbs=("get", "list", "patch", "update"),
                short=["cm"])]})

    async def apis_apps_v1(self, request):
        return json_response({"kind": "APIResourceList", "apiVersion": "v1",
                                  "groupVersion": "apps/v1", "resources": [
                                      {"name": "statefulsets", "singularName": "",
                                       "namespaced": True, "kind": "StatefulSet",
                                       "verbs": ["get", "list", "patch"],
                                       "shortNames": ["sts"]}]})

    async def apis_policy_v1(self, request):
        return json_response({"kind": "APIResourceList", "apiVersion": "v1",
                              "groupVersion": "policy/v1", "resources": [
                                  {"name": "poddisruptionbudgets", "singularName": "",
                                   "namespaced": True, "kind": "PodDisruptionBudget",
                                   "verbs": ["get", "list"], "shortNames": ["pdb"]}]})

    async def apis_coordination_v1(self, request):
        return json_response({"kind": "APIResourceList", "apiVersion": "v1",
                              "groupVersion": "coordination.k8s.io/v1", "resources": [
                                  {"name": "leases", "singularName": "lease", "namespaced": True,
                                   "kind": "Lease",
                                   "verbs": ["create", "delete", "get", "list", "update"]}]})

    async def apis_discovery_v1(self, request):
        return json_response({"kind": "APIResourceList", "apiVersion": "v1",
                                  "groupVersion": "discovery.k8s.io/v1", "resources": [
                                      {"name": "endpointslices", "singularName": "",
                                       "namespaced": True, "kind": "EndpointSlice",
                                       "verbs": ["get", "list"]}]})

    # --- lists and objects ---------------------------------------------------------------------
    def listing(self, kind, api_version, items, headers=None):
        for it in items:
            it.pop("kind", None)
            it.pop("apiVersion", None)
        return json_response({"kind": kind, "apiVersion": api_version,
                              "metadata": {"resourceVersion": "1"}, "items": items},
                             headers=headers)

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
        return json_response(self.evict_or_delete(r, name))

    def evict_or_delete(self, r, name):
        """A pod deleted (directly or by an eviction): the same terminating object."""
        obj = r.pod_object(name)
        if r.state(name) == "Terminating":
            return obj  # deleted already
        obj["metadata"]["deletionTimestamp"] = obj["metadata"]["creationTimestamp"]
        obj["metadata"]["deletionGracePeriodSeconds"] = 30
        # The StatefulSet controller recreates it (after restart_seconds) from its update
        # revision; the Vault process restarts sealed.
        r.restart(name)
        r.cluster.pod_deleted(name, r.restart_seconds)
        return obj

    async def evict_pod(self, request):
        """POST pods/NAME/eviction (policy/v1 Eviction), as the API server's EvictionREST
        (pkg/registry/core/pod/storage/eviction.go) judges it against the pod's
        PodDisruptionBudget."""
        r, name, error = self.pod_of(request, "create", "pods/eviction")
        if error is not None:
            return error
        try:
            body = await request.json()
        except ValueError:
            return status_body(400, "BadRequest", "the body of the request was in an unknown "
                               "format - accepted media types include: application/json, "
                               "application/yaml, application/vnd.kubernetes.protobuf")
        if not isinstance(body, dict) or body.get("kind", "Eviction") != "Eviction":
            return status_body(400, "BadRequest", "not a Eviction object: %s" % type(body))
        if (body.get("metadata") or {}).get("name") != name:
            return status_body(400, "BadRequest",
                               "name in URL does not match name in Eviction object")
        success = json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                 "status": "Success", "code": 201}, status=201)
        # A pod that is not running (Pending, terminating) goes without the budget.
        state = r.state(name)
        if state in ("Terminating", "ContainerCreating", "BrokenImage") or \
                state.startswith("Pending"):
            self.evict_or_delete(r, name)
            return success
        pdb = r.pdb_object()
        if pdb is not None and selector_matches(
                ",".join("%s=%s" % kv for kv in pdb["spec"]["selector"]["matchLabels"].items()),
                r.labels(name)):
            st = pdb["status"]
            unready_spare = not r.ready(name) and st["currentHealthy"] >= st["desiredHealthy"] \
                and st["desiredHealthy"] > 0
            if not unready_spare and st["disruptionsAllowed"] <= 0:
                return status_body(429, "TooManyRequests", "Cannot evict pod as it would violate "
                                   "the pod's disruption budget.",
                                   {"causes": [{"reason": "DisruptionBudget",
                                                "message": "The disruption budget %s needs %d "
                                                "healthy pods and has %d currently" % (
                                                    pdb["metadata"]["name"],
                                                    st["desiredHealthy"],
                                                    st["currentHealthy"])}]})
        self.evict_or_delete(r, name)
        return success

    # --- coordination.k8s.io/v1 Leases (optimistic concurrency on resourceVersion) ------------
    def lease_conflict(self, name, why):
        return status_body(409, "Conflict", 'Operation cannot be fulfilled on '
                           'leases.coordination.k8s.io "%s": %s' % (name, why),
                           {"name": name, "group": "coordination.k8s.io", "kind": "leases"})

    async def lease_write(self, request, verb):
        """RBAC and the Lease sent: (namespace, name from the URL or None, body, error)."""
        ns, name = request.match_info["ns"], request.match_info.get("name")
        denied = self.check(request, verb, "leases", ns, name)
        if denied is not None:
            return ns, name, None, denied
        body, error = await self.lease_body(request)
        if error is None:
            body.setdefault("metadata", {})
        return ns, name, body, error

    async def lease_body(self, request):
        try:
            body = await request.json()
        except ValueError:
            return None, status_body(400, "BadRequest", "the body of the request was in an "
                                     "unknown format")
        # The server takes the kind and version from the URL when the body has none.
        if not isinstance(body, dict) or body.get("kind", "Lease") != "Lease" or \
                body.get("apiVersion", "coordination.k8s.io/v1") != "coordination.k8s.io/v1":
            return None, status_body(400, "BadRequest", "the API version in the data (%s) does "
                                     "not match the expected API version (coordination.k8s.io/v1)"
                                     % (body.get("apiVersion") if isinstance(body, dict) else ""))
        spec = body.get("spec") or {}
        d = spec.get("leaseDurationSeconds")
        if d is not None and (not isinstance(d, int) or d <= 0):
            return None, status_body(422, "Invalid", 'Lease.coordination.k8s.io "%s" is invalid: '
                                     'spec.leaseDurationSeconds: Invalid value: %s: must be '
                                     'greater than 0' % ((body.get("metadata") or {}).get("name"),
                                                         d))
        return body, None

    async def list_leases(self, request):
        ns = request.match_info["ns"]
        objs = [json.loads(json.dumps(o)) for (n, _), o in sorted(self.leases.items())
                if n == ns]
        verb = "get" if "name" in request.match_info else "list"
        return self.answer(request, verb, "leases", objs, "LeaseList", "coordination.k8s.io/v1",
                           "coordination.k8s.io")

    async def create_lease(self, request):
        ns, _, body, error = await self.lease_write(request, "create")
        if error is not None:
            return error
        meta = body["metadata"]
        name = meta.get("name")
        if not name:
            return status_body(422, "Invalid", 'Lease.coordination.k8s.io "" is invalid: '
                               'metadata.name: Required value: name or generateName is required')
        if meta.get("namespace", ns) != ns:
            return status_body(400, "BadRequest", "the namespace of the provided object does not "
                               "match the namespace sent on the request")
        if (ns, name) in self.leases:
            return status_body(409, "AlreadyExists", 'leases.coordination.k8s.io "%s" already '
                               'exists' % name, {"name": name, "group": "coordination.k8s.io",
                                                 "kind": "leases"})
        self.resource_version += 1
        meta.update({"namespace": ns, "uid": str(uuid.uuid4()),
                     "resourceVersion": str(self.resource_version),
                     "creationTimestamp": now_rfc3339()})
        self.leases[(ns, name)] = body
        return json_response(body, status=201)

    async def update_lease(self, request):
        ns, name, body, error = await self.lease_write(request, "update")
        if error is not None:
            return error
        meta = body["metadata"]
        if meta.get("name") != name:
            return status_body(400, "BadRequest", "the name of the object (%s) does not match "
                               "the name on the URL (%s)" % (meta.get("name"), name))
        old = self.leases.get((ns, name))
        if old is None:
            return self.not_found("leases", name, "coordination.k8s.io")
        # Leases allow an unconditional update (no resourceVersion); a stale one conflicts.
        if meta.get("resourceVersion") not in (None, "", old["metadata"]["resourceVersion"]):
            return self.lease_conflict(name, "the object has been modified; please apply your "
                                       "changes to the latest version and try again")
        self.resource_version += 1
        for k in ("uid", "creationTimestamp"):
            meta[k] = old["metadata"][k]
        meta.update({"namespace": ns, "resourceVersion": str(self.resource_version)})
        self.leases[(ns, name)] = body
        return json_response(body)

    async def delete_lease(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self.check(request, "delete", "leases", ns, name)
        if denied is not None:
            return denied
        old = self.leases.get((ns, name))
        if old is None:
            return self.not_found("leases", name, "coordination.k8s.io")
        opts = {}
        if request.can_read_body:
            try:
                opts = await request.json() or {}
            except ValueError:
                return status_body(400, "BadRequest", "the body of the request was in an "
                                   "unknown format")
        want = (opts.get("preconditions") or {}).get("resourceVersion")
        have = old["metadata"]["resourceVersion"]
        if want is not None and want != have:
            # storage.Preconditions.Check: an invalid-object StorageError, made a Conflict.
            return self.lease_conflict(name, "StorageError: invalid object, Code: 4, Key: "
                                       "/registry/leases/%s/%s, ResourceVersion: 0, "
                                       "AdditionalErrorMsg: Precondition failed: ResourceVersion "
                                       "in precondition: %s, ResourceVersion in object meta: %s"
                                       % (ns, name, want, have))
        del self.leases[(ns, name)]
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success",
                              "details": {"name": name, "group": "coordination.k8s.io",
                                          "kind": "leases", "uid": old["metadata"]["uid"]}})

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

    # The patch types the API server accepts for built-in resources (PatchResource).
    PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
                   "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
    # ValidateStatefulSetUpdate: what a StatefulSet update may change in spec.
    STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                   "persistentVolumeClaimRetentionPolicy", "minReadySeconds")

    async def patch_statefulset(self, request):
        """PATCH as the API server's patch handler answers it: JSON patch (RFC 6902),
        merge patch (RFC 7386) or strategic merge patch; then the StatefulSet update
        validation; a template change makes a new revision, which the controller observes a
        moment later (status.observedGeneration, updateRevision)."""
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self.check(request, "patch", "statefulsets", ns, name)
        if denied is not None:
            return denied
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype not in self.PATCH_TYPES:
            return status_body(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted "
                               "media types include: " + ", ".join(self.PATCH_TYPES))
        r = self.find_release(ns, sts=name)
        if r is None:
            return self.not_found("statefulsets", name, "apps")
        if ctype == "application/apply-patch+yaml":
            return status_body(400, "BadRequest", "fake API server: server-side apply is not "
                               "modelled; use a JSON, merge or strategic merge patch")
        try:
            patch = json.loads(await request.read())
        except ValueError as e:
            return status_body(400, "BadRequest", "error decoding patch: %s" % e)
        current = r.statefulset_object()
        try:
            if ctype == "application/json-patch+json":
                new = apply_json_patch(current, patch)
            elif ctype == "application/merge-patch+json":
                if not isinstance(patch, dict):
                    raise PatchError(400, "Invalid JSON Patch")
                new = merge_patch(current, patch)
            else:
                new = strategic_merge_patch(current, patch)
        except PatchError as e:
            if e.status == 422:
                # NewGenericServerResponse(422, ...): the reason is not passed on.
                return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                      "status": "Failure", "message": "the server rejected our "
                                      "request due to an error in our request",
                                      "reason": "Invalid", "details": {}, "code": 422},
                                     status=422)
            return status_body(400, "BadRequest", str(e))
        old_spec = {k: v for k, v in current.get("spec", {}).items() if k not in self.STS_MUTABLE}
        new_spec = {k: v for k, v in (new.get("spec") or {}).items()
                    if k not in self.STS_MUTABLE}
        if old_spec != new_spec:
            msg = ("spec: Forbidden: updates to statefulset spec for fields other than "
                   "'replicas', 'ordinals', 'template', 'updateStrategy', "
                   "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")
            return status_body(422, "Invalid", 'StatefulSet.apps "%s" is invalid: %s' % (name, msg),
                               {"name": name, "group": "apps", "kind": "StatefulSet", "causes": [
                                   {"reason": "FieldValueForbidden", "message":
                                    msg.split(": ", 1)[1], "field": "spec"}]})
        for key in ("replicas", "ordinals", "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds"):
            if current["spec"].get(key) != new["spec"].get(key):
                return status_body(400, "BadRequest", "fake API server: changing spec.%s is not "
                                   "modelled" % key)
        # Defaulting (SetDefaults_StatefulSet), then ValidateStatefulSetSpec's rules.
        strategy = dict(new["spec"].get("updateStrategy") or {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"partition": 0})
        bad = None
        if strategy["type"] not in ("OnDelete", "RollingUpdate"):
            bad = ("spec.updateStrategy", "FieldValueInvalid", 'Invalid value: "%s": must be '
                   "'RollingUpdate' or 'OnDelete'" % strategy["type"])
        elif strategy["type"] == "OnDelete" and "rollingUpdate" in strategy:
            bad = ("spec.updateStrategy.rollingUpdate", "FieldValueInvalid",
                   "Invalid value: %s: only allowed for updateStrategy 'RollingUpdate'"
                   % json.dumps(strategy["rollingUpdate"]))
        if bad is not None:
            return status_body(422, "Invalid", 'StatefulSet.apps "%s" is invalid: %s: %s'
                               % (name, bad[0], bad[2]),
                               {"name": name, "group": "apps", "kind": "StatefulSet", "causes": [
                                   {"reason": bad[1], "message": bad[2], "field": bad[0]}]})
        if "dryRun" in request.query:
            dry = dict(new)
            return json_response(dry)
        changed = False
        meta, old_meta = new.get("metadata") or {}, current["metadata"]
        for key, attr in (("labels", "sts_labels"), ("annotations", "sts_annotations")):
            if meta.get(key) != old_meta.get(key):
                setattr(r, attr, dict(meta.get(key) or {}))
                changed = True
        if new["spec"].get("template") != current["spec"]["template"]:
            r.set_template(new["spec"]["template"])
            changed = True
        if strategy != current["spec"]["updateStrategy"]:
            r.update_strategy = strategy
            r.spec_changed()
            changed = True
        if changed:
            r.resource_version += 1
        return json_response(r.statefulset_object())

    async def get_statefulset(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self.check(request, "get", "statefulsets", ns, name)
        if denied is not None:
            return denied
        r = self.find_release(ns, sts=name)
        if r is None:
            return self.not_found("statefulsets", name, "apps")
        return json_response(r.statefulset_object())

    def releases_in(self, ns):
        return [r for r in self.releases if r.namespace == ns]

    def named(self, request, verb, resource, objects, group=None):
        """get NAME or list (with a labelSelector) of namespaced objects: RBAC, 404, lists."""
        ns = request.match_info.get("ns")
        name = request.match_info.get("name")
        denied = self.check(request, verb, resource, ns, name)
        if denied is not None:
            return denied, None
        if name is not None:
            for o in objects:
                if o["metadata"]["name"] == name:
                    return None, o
            return self.not_found(resource, name, group), None
        try:
            items = [o for o in objects if selector_matches(
                request.query.get("labelSelector", ""), o["metadata"].get("labels", {}))]
        except ValueError as e:
            return status_body(400, "BadRequest", "unable to parse requirement: %s" % e), None
        return None, items

    def answer(self, request, verb, resource, objects, kind, api_version, group=None,
               headers=None):
        error, result = self.named(request, verb, resource, objects, group)
        if error is not None:
            return error
        if isinstance(result, dict):
            return json_response(result, headers=headers)
        return self.listing(kind, api_version, result, headers=headers)

    async def list_services(self, request):
        ns = request.match_info["ns"]
        objs = [s for r in self.releases_in(ns) for s in r.services()]
        return self.answer(request, "list", "services", objs, "ServiceList", "v1")

    async def get_service(self, request):
        ns = request.match_info["ns"]
        objs = [s for r in self.releases_in(ns) for s in r.services()]
        return self.answer(request, "get", "services", objs, "ServiceList", "v1")

    def endpoints_objects(self, ns):
        return [r.endpoints_object(s) for r in self.releases_in(ns) for s in r.services()]

    async def list_endpoints(self, request):
        return self.answer(request, "list", "endpoints",
                           self.endpoints_objects(request.match_info["ns"]), "EndpointsList",
                           "v1", headers={"Warning": ENDPOINTS_WARNING})

    async def get_endpoints(self, request):
        return self.answer(request, "get", "endpoints",
                           self.endpoints_objects(request.match_info["ns"]), "EndpointsList",
                           "v1", headers={"Warning": ENDPOINTS_WARNING})

    def zone_of(self, node_name):
        node = next((n for n in self.node_objects() if n["metadata"]["name"] == node_name), None)
        return node["metadata"]["labels"].get("topology.kubernetes.io/zone") if node else None

    async def list_endpointslices(self, request):
        ns = request.match_info["ns"]
        objs = [r.endpointslice_object(s, self.zone_of) for r in self.releases_in(ns)
                for s in r.services()]
        verb = "get" if "name" in request.match_info else "list"
        return self.answer(request, verb, "endpointslices", objs, "EndpointSliceList",
                           "discovery.k8s.io/v1", "discovery.k8s.io")

    async def list_pvcs(self, request):
        ns = request.match_info["ns"]
        objs = [c for r in self.releases_in(ns) for c in r.pvc_objects()]
        verb = "get" if "name" in request.match_info else "list"
        return self.answer(request, verb, "persistentvolumeclaims", objs,
                           "PersistentVolumeClaimList", "v1")

    async def list_pdbs(self, request):
        ns = request.match_info["ns"]
        objs = [o for o in (r.pdb_object() for r in self.releases_in(ns)) if o is not None]
        verb = "get" if "name" in request.match_info else "list"
        return self.answer(request, verb, "poddisruptionbudgets", objs,
                           "PodDisruptionBudgetList", "policy/v1", "policy")

    def node_objects(self):
        """The cluster's nodes: node-0.. (one per replica, the chart's required anti-affinity)
        plus any node a test moved a pod to; zones a, b, c in turn."""
        names = set("node-%d" % i for i in range(max([r.replicas for r in self.releases] + [3])))
        for r in self.releases:
            for p in r.existing_pods():
                n = r.pod_object(p)["spec"].get("nodeName")
                if n:
                    names.add(n)
        out = []
        for name in sorted(names, key=lambda n: (len(n), n)):
            m = re.search(r"(\d+)$", name)
            i = int(m.group(1)) if m else 0
            obj = {"kind": "Node", "apiVersion": "v1",
                   "metadata": {"name": name, "uid": "node-" + name, "resourceVersion": "1",
                                "creationTimestamp": self.created,
                                "labels": {"kubernetes.io/hostname": name,
                                           "kubernetes.io/os": "linux",
                                           "kubernetes.io/arch": "amd64",
                                           "topology.kubernetes.io/region": "region-1",
                                           "topology.kubernetes.io/zone": ZONES[i % len(ZONES)]}},
                   "spec": {"podCIDR": "10.244.%d.0/24" % (i + 1)},
                   "status": {"conditions": [{"type": "Ready", "status": "True",
                                              "reason": "KubeletReady",
                                              "message": "kubelet is posting ready status"}],
                              "addresses": [{"type": "InternalIP",
                                             "address": "172.18.0.%d" % (2 + i)},
                                            {"type": "Hostname", "address": name}],
                              "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "fake",
                                           "architecture": "amd64", "operatingSystem": "linux",
                                           "containerRuntimeVersion": "containerd://2.0.0",
                                           "kernelVersion": "6.1.0"}}}
            if name in self.node_patches:
                if self.node_patches[name] is None:
                    continue
                obj = merge_patch(obj, self.node_patches[name])
            out.append(obj)
        return out

    async def list_nodes(self, request):
        verb = "get" if "name" in request.match_info else "list"
        return self.answer(request, verb, "nodes", self.node_objects(), "NodeList", "v1")

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
        # The plugin runs every command under `env -u VAULT_TOKEN ...`: the log keeps the
        # command that env runs, and the variables it unset under "unset".
        unset, run = [], command
        while len(run) >= 3 and run[0] == "env" and run[1] == "-u":
            unset.append(run[2])
            run = ["env"] + run[3:]
        if unset:
            run = run[1:]
        else:
            run = command
        self.exec_log.write(json.dumps({"namespace": ns, "pod": name, "container": container,
                                        "command": run, "unset": unset,
                                        "uri": request.path_qs, "protocol": chosen}) + "\n")
        hostile = self.hostile if self.hostile and self.hostile not in PROXY_HOSTILE and \
            self.hostile_match in " ".join(command) else None
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
        if self.exec_start_ms:
            await asyncio.sleep(self.exec_start_ms / 1000.0)
        # Exactly one empty initial frame on the lowest writable channel (docs/kubernetes.md §1.3).
        first = 1 if want_out else 2 if want_err else 3
        await ws.send_bytes(bytes([first]))
        if r.state(pod) in ("CrashLoopBackOff", "ContainerCreating", "BrokenImage") or \
                not command:
            msg = "container not running (%s)" % r.cluster.container_name if command else \
                "you must specify at least one command for the container"
            await self.finish(ws, {"metadata": {}, "status": "Failure", "message":
                                   "Internal error occurred: error executing command in "
                                   "container: %s" % msg, "reason": "InternalError",
                                   "details": {"causes": [{"message": msg}]}, "code": 500},
                              escape)
            return
        env, cwd = self.pod_env(r, pod)
        # Paths in the pod's /tmp are the pod's own (a shell redirection to one cannot be
        # mapped by the file tools' wrappers, so the arguments are): the exec log (exec_pod) keeps
        # the command as sent.
        command = [env["FAKE_POD_FS"] + a if a.startswith("/tmp/") else a for a in command]
        try:
            if command[0] in ("sh", "/bin/sh", "env", "/usr/bin/env") and \
                    not getattr(r.cluster, "has_shell", True):
                raise FileNotFoundError(command[0])  # the distroless image: no shell, no env
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
    # --- pods/proxy (docs/kubernetes.md §8) ------------------------------------------
    async def proxy_pod(self, request):
        """The API server carrying an HTTP request to a pod's port: RBAC per verb on pods/proxy,
        the id forms [scheme:]name[:port], the real errors for a pod without an IP and a closed
        port, Authorization dropped, other headers forwarded, the answer (a standby's 307
        too) passed back unchanged; TLS to the pod is not verified."""
        ns, pid, rest = request.match_info["ns"], request.match_info["id"], \
            request.match_info["path"]
        if request.method not in PROXY_METHODS:
            return status_body(405, "MethodNotAllowed", "the server does not allow this method "
                               "on the requested resource")
        verb = PROXY_VERBS.get(request.method, request.method.lower())
        user = request["user"]
        if not self.allowed(user, verb, "pods/proxy", ns):
            return self.forbidden(user, verb, "pods/proxy", ns, pid)
        parsed = split_scheme_name_port(pid)
        if parsed is None:
            return status_body(400, "BadRequest", 'invalid pod request "%s"' % pid)
        scheme, name, port = parsed
        r = self.find_release(ns, pod=name)
        if r is None:
            return self.not_found("pods", name)
        if rest == "" and request.method in ("GET", "HEAD"):
            return web.Response(status=301, headers={"Location": request.path + "/"})
        state = r.state(name)
        if state.startswith("Pending") or state in ("ContainerCreating", "BrokenImage"):
            return status_body(400, "BadRequest", "address not allowed")
        ip = r.pod_ip(r.pods[name]["ordinal"])
        port = int(port or 8200)  # without a port: the first port of the first container
        if state == "CrashLoopBackOff" or port != 8200:
            return status_body(503, "ServiceUnavailable", "error trying to reach service: dial tcp "
                               "%s:%d: connect: connection refused" % (ip, port))
        if scheme == "https" and not r.cluster.tls:
            return status_body(503, "ServiceUnavailable", "error trying to reach service: tls: "
                               "first record does not look like a TLS handshake")
        if scheme != "https" and r.cluster.tls:  # Vault's own answer, passed through
            return web.Response(status=400, text="Client sent an HTTP request to an HTTPS "
                                "server.\n", content_type="text/plain")
        if not rest.startswith("/v1/"):
            return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
        hostile = self.hostile if self.hostile in PROXY_HOSTILE and \
            self.hostile_match in rest else None
        if hostile == "proxy-endless":  # a 200 whose body never ends
            resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            await resp.prepare(request)
            chunk = b"y" * 65536
            try:
                while True:
                    await resp.write(chunk)
            except (ConnectionError, RuntimeError):
                return resp
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in (
                       "authorization", "host", "content-length", "accept-encoding")
                   and not k.lower().startswith("x-fake-")}
        headers["X-Forwarded-Uri"] = request.path_qs
        url = self.endpoint(ns, name) + rest
        if request.query_string:
            url += "?" + request.query_string
        if self.proxy_session is None:
            import aiohttp
            self.proxy_session = aiohttp.ClientSession(auto_decompress=False)
        async with self.proxy_session.request(request.method, url, headers=headers,
                                              data=await request.read(),
                                              allow_redirects=False) as up:
            body = await up.read()
            out = {k: v for k, v in up.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in ("content-length", "date",
                                                                         "server")}
        if hostile == "proxy-escape":
            try:
                body = json.dumps(taint_strings(json.loads(body))).encode()
            except ValueError:
                body = body + ESCAPES.encode()
        loc = out.get("Location")
        own = "%s://%s:%d" % ("https" if r.cluster.tls else "http", ip, port)
        if loc and loc.startswith(own + "/"):  # only a Location on the proxied host is rewritten
            out["Location"] = "/api/v1/namespaces/%s/pods/%s/proxy%s" % (ns, pid, loc[len(own):])
        self.proxy_log.write(json.dumps({"namespace": ns, "pod": name, "method": request.method,
                                         "path": rest, "status": up.status}) + "\n")
        return web.Response(status=up.status, body=body, headers=out)

    async def self_subject_access_review(self, request):
        """SelfSubjectAccessReview: any authenticated user may ask what RBAC allows it."""
        raw = await request.read()
        try:
            if request.content_type == "application/vnd.kubernetes.protobuf":
                review = {"spec": {"resourceAttributes": ssar_attributes_from_protobuf(raw)}}
            else:
                review = json.loads(raw)
            attrs = review["spec"]["resourceAttributes"]
        except (ValueError, KeyError, TypeError, IndexError):
            return status_body(400, "BadRequest", "spec.resourceAttributes: Required value")
        resource = attrs.get("resource", "")
        if attrs.get("subresource"):
            resource += "/" + attrs["subresource"]
        user = request["user"]
        allowed = self.allowed(user, attrs.get("verb", ""), resource, attrs.get("namespace"))
        status = {"allowed": allowed}
        if allowed:
            status["reason"] = 'RBAC: allowed by ClusterRoleBinding "fake-%s" of ClusterRole ' \
                '"fake-%s" to User "%s"' % (user, user, user)
        return json_response({"kind": "SelfSubjectAccessReview",
                              "apiVersion": "authorization.k8s.io/v1",
                              "metadata": {"creationTimestamp": None},
                              "spec": review["spec"], "status": status}, status=201)

    async def apis_authorization_v1(self, request):
        return json_response({"kind": "APIResourceList", "apiVersion": "v1",
                              "groupVersion": "authorization.k8s.io/v1", "resources": [
                                  {"name": "selfsubjectaccessreviews",
                                   "singularName": "selfsubjectaccessreview",
                                   "namespaced": False, "kind": "SelfSubjectAccessReview",
                                   "verbs": ["create"]}]})

    async def control(self, request):
        body = await request.json() if request.can_read_body else {}
        return await self.control_action(request.match_info["action"], body)

    async def control_action(self, action, body):
        if action == "on-request":
            # Control actions run once, when a matching API request arrives and before it is
            # served: a test's way to change the world at the exact moment a client acts.
            self.request_hooks.append((body["method"].upper(), body["path"], body["then"]))
        elif action == "pod-state":
            r = self.find_any(body["namespace"], body["pod"])
            r.pod_states[body["pod"]] = body["state"]
            if body["state"] == "Running":
                r.pod_states.pop(body["pod"], None)
                if body["pod"] in r.lost:  # a lost pod scheduled again: a new pod, started sealed
                    r.lost.discard(body["pod"])
                    r.restart(body["pod"])
        elif action == "labels":
            r = self.find_any(body["namespace"], body["pod"])
            r.label_overrides.setdefault(body["pod"], {}).update(body["labels"])
        elif action == "settings":
            if "latency_ms" in body:
                self.latency_ms = int(body["latency_ms"])
            if "cut_after" in body:
                self.cut_after = int(body["cut_after"])
            if "exec_start_ms" in body:
                self.exec_start_ms = int(body["exec_start_ms"])
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
            if "restart_seconds" in body:
                for r in self.releases:
                    r.restart_seconds = float(body["restart_seconds"])
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
        elif action == "lose":
            # A pod lost with its node ("node": Pending forever, its volume kept on the lost
            # node) or with its volume ("pvc": the PVC is Lost, the data gone). The Vault
            # process is gone either way. pod-state Running brings the pod back.
            r = self.find_any(body["namespace"], body["pod"])
            pod, how = body["pod"], body.get("how", "node")
            r.pod_states[pod] = "Pending:Unschedulable"
            r.cluster.pod_deleted(pod)
            if how == "pvc":
                r.cluster.wipe_data(pod)
                key = ("PersistentVolumeClaim", "data-%s" % pod)
                r.patches[key] = combine_patches(r.patches.get(key) or {},
                                                 {"status": {"phase": "Lost"}})
            r.lost.add(pod)
        elif action == "patch":
            # A JSON merge patch on an object the fake serves; "patch": null deletes it.
            if body["kind"] == "Node":
                old = self.node_patches.get(body["name"], {})
                self.node_patches[body["name"]] = None if body["patch"] is None or old is None \
                    else combine_patches(old, body["patch"])
            else:
                r = self.find_release_of(body["namespace"], body.get("release"))
                if body["kind"] == "Pod" and body["patch"] is None:
                    return json_response({"error": "use pod-state missing"}, status=400)
                key = (body["kind"], body["name"])
                old = r.patches.get(key, {})
                r.patches[key] = None if body["patch"] is None or old is None \
                    else combine_patches(old, body["patch"])
        elif action == "unpatch":
            if body["kind"] == "Node":
                self.node_patches.pop(body["name"], None)
            else:
                self.find_release_of(body["namespace"], body.get("release")).patches.pop(
                    (body["kind"], body["name"]), None)
        elif action == "revision":
            # A template change under OnDelete: a new updateRevision; pods keep theirs until
            # they are deleted (and "pods" may name pods already on it).
            r = self.find_release_of(body["namespace"], body.get("release"))
            r.controller_tick()
            r.pending_observe = None
            r.revision = body["revision"]
            r.template_of(r.revision)
            for p in body.get("pods", []):
                r.pods[p]["revision"] = r.revision
        elif action == "broken-image":
            # Pods created from this image do not start (ImagePullBackOff, ErrImagePull, ...).
            r = self.find_release_of(body["namespace"], body.get("release"))
            if body.get("reason") is None:
                r.broken_images.pop(body["image"], None)
            else:
                r.broken_images[body["image"]] = body["reason"]
        elif action == "cluster-ids":
            # Each pod's cluster_id (the raft cluster whose data it holds; "" uninitialized).
            r = self.find_release_of(body["namespace"], body.get("release"))
            return json_response({"cluster_ids": {p: r.cluster.cluster_id(p) for p in r.pods}})
        elif action == "leaders":
            # Every leader election of the release's Vault, oldest first.
            r = self.find_release_of(body["namespace"], body.get("release"))
            return json_response({"leaders": [{"pod": p, "term": term, "ns": t}
                                              for p, term, t in r.cluster.leader_history()]})
        elif action == "dns":
            r = self.find_any(body["namespace"], body["pod"])
            if body.get("mode") in (None, "ok"):
                r.dns_faults.pop(body["pod"], None)
            else:
                r.dns_faults[body["pod"]] = {k: v for k, v in body.items()
                                             if k in ("mode", "ip", "seconds")}
                if body.get("since") == "now":  # lag counted from now, not from the pod's start
                    r.dns_faults[body["pod"]]["from_mono"] = time.monotonic()
        elif action == "tools":
            r = self.find_release_of(body["namespace"], body.get("release"))
            r.missing_tools[body.get("pod", "*")] = set(body.get("missing", []))
        elif action == "disk":
            r = self.find_release_of(body["namespace"], body.get("release"))
            pod = body.get("pod", "*")
            r.disk[pod] = float(body["used_percent"])
            for p in (r.pods if pod == "*" else [pod]):
                self.write_disk(r, p)
        elif action == "pod-file":
            r = self.find_release_of(body["namespace"], body.get("release"))
            pods = list(r.pods) if body.get("pod", "*") == "*" else [body["pod"]]
            for p in pods:
                fs = os.path.join(self.state_dir, "pods", r.namespace, p, "fs")
                if p not in r.fs_ready:
                    self.make_pod_fs(r, p, fs)
                    r.fs_ready.add(p)
                full = fs + body["path"]
                if body.get("content") is None:
                    if os.path.exists(full):
                        os.unlink(full)
                    continue
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "w") as f:
                    f.write(body["content"])
        elif action == "tls-cert":
            # Reissue a pod's certificate file (and what its simulated listener presents).
            r = self.find_any(body["namespace"], body["pod"])
            pem = r.cluster.issue_node_cert(body["pod"], dns=body.get("dns"), ips=body.get("ips"),
                                            valid_days=body.get("valid_days"),
                                            signer=body.get("signer", "ca"))
            fs = os.path.join(self.state_dir, "pods", r.namespace, body["pod"], "fs")
            if body["pod"] not in r.fs_ready:
                self.make_pod_fs(r, body["pod"], fs)
                r.fs_ready.add(body["pod"])
            with open(fs + r.tls_dir() + "/vault.crt", "w") as f:
                f.write(pem)
        elif action == "seal":
            r = self.find_release_of(body["namespace"], body.get("release"))
            r.cluster.set_seal_available(bool(body["available"]))
        elif action in ("configmap", "secret", "transit"):
            r = self.find_release_of(body["namespace"], body.get("release"))
            return json_response(sealconfig.control(self, r, action, body))
        else:
            return json_response({"error": "unknown action"}, status=404)
        return json_response({"ok": True})

    def find_release_of(self, ns, release=None):
        for r in self.releases:
            if r.namespace == ns and (release is None or r.release == release):
                return r
        raise web.HTTPNotFound()

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
            web.post(ns + "/pods/{name}/eviction", self.evict_pod),
            web.route("*", ns + "/pods/{id}/proxy{path:(/.*)?}", self.proxy_pod),
            web.get("/apis/authorization.k8s.io/v1", self.apis_authorization_v1),
            web.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                     self.self_subject_access_review),
            web.get(ns + "/pods/{name}/log", self.pod_log),
            web.get(ns + "/services", self.list_services),
            web.get(ns + "/services/{name}", self.get_service),
            web.get(ns + "/endpoints", self.list_endpoints),
            web.get(ns + "/endpoints/{name}", self.get_endpoints),
            web.get(ns + "/persistentvolumeclaims", self.list_pvcs),
            web.get(ns + "/persistentvolumeclaims/{name}", self.list_pvcs),
            web.get("/api/v1/nodes", self.list_nodes),
            web.get("/api/v1/nodes/{name}", self.list_nodes),
            web.get("/apis/policy/v1", self.apis_policy_v1),
            web.get("/apis/coordination.k8s.io/v1", self.apis_coordination_v1),
            web.get("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", self.list_leases),
            web.post("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", self.create_lease),
            web.get("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}",
                    self.list_leases),
            web.put("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}",
                    self.update_lease),
            web.delete("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}",
                       self.delete_lease),
            web.get("/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", self.list_pdbs),
            web.get("/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}",
                    self.list_pdbs),
            web.get("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                    self.list_endpointslices),
            web.get("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{name}",
                    self.list_endpointslices),
            web.get("/apis/apps/v1/statefulsets", self.list_statefulsets),
            web.get("/apis/apps/v1/namespaces/{ns}/statefulsets", self.list_statefulsets),
            web.get("/apis/apps/v1/namespaces/{ns}/statefulsets/{name}", self.get_statefulset),
            web.patch("/apis/apps/v1/namespaces/{ns}/statefulsets/{name}",
                      self.patch_statefulset),
            *sealconfig.routes(self),
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
