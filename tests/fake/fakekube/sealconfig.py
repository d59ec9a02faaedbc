"""The chart's ConfigMap <fullname>-config and the pods' extra environment, for seal
migrations (docs/seal-migration.md §5.4, §8).

A pod's Vault reads the ConfigMap's content as it is when its container starts (the chart
copies it to /tmp): a deleted pod comes back with the ConfigMap's CURRENT content, a running
one keeps what it started with. `helm upgrade` is a PATCH (or PUT) of the ConfigMap. The pod's
environment adds the StatefulSet template's `env` entries (plain values, and secretKeyRef
values from Secrets the tests create with the `secret` control action), as
extraEnvironmentVars and extraSecretEnvironmentVars put them there, and its `envFrom`
secretRef entries (every key of the Secret, a prefix before it).
"""
import copy
import json
import os

from aiohttp import web

CONFIG_KEY = "extraconfig-from-values.hcl"


def configmap_name(r):
    return "%s-config" % r.fullname


def configmap_data(r):
    if getattr(r, "configmap", None) is None:
        r.configmap = {CONFIG_KEY: r.config_hcl()}
        r.configmap_version = 1
    return r.configmap


def configmap_object(r):
    data = configmap_data(r)
    meta = r._meta(configmap_name(r), r.chart_labels(), "ConfigMap")
    meta["resourceVersion"] = str(r.configmap_version)
    meta["annotations"] = {"meta.helm.sh/release-name": r.release,
                           "meta.helm.sh/release-namespace": r.namespace}
    return {"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta, "data": dict(data)}


def template_env(r, pod):
    """The template env of the revision the pod was created from, resolved (Secrets)."""
    info = r.pods.get(pod) or {}
    template = r.template_of(info.get("revision"))
    out = {}
    secrets = getattr(r, "secrets", {})
    for c in template.get("spec", {}).get("containers", []):
        if c.get("name") != r.cluster.container_name:
            continue
        # envFrom first (every key of the Secret, with its prefix), then env over it
        for src in c.get("envFrom", []) or []:
            ref = src.get("secretRef") or {}
            for key, value in (secrets.get(ref.get("name")) or {}).items():
                out[src.get("prefix", "") + key] = value
        for e in c.get("env", []) or []:
            name = e.get("name")
            if not name:
                continue
            if "value" in e:
                out[name] = str(e["value"])
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                value = (secrets.get(ref.get("name")) or {}).get(ref.get("key"))
                if value is not None:
                    out[name] = value
    return out


def write_pod_config(srv, r, pod):
    """The container starts: the config file it reads is the ConfigMap's content now."""
    fs = os.path.join(srv.state_dir, "pods", r.namespace, pod, "fs")
    path = fs + r.config_dir() + "/" + CONFIG_KEY
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = configmap_data(r).get(CONFIG_KEY, "")
    with open(path, "w") as f:
        f.write(text)
    return text


def install(srv, r):
    """Hooks the release's simulated Vault to the ConfigMap and the pod env: what a Vault
    process reads when it starts."""
    def source(pod):
        if pod not in r.pods:
            return None
        text = write_pod_config(srv, r, pod)
        env = dict(r.cluster.container_env(pod, r.pod_ip(r.pods[pod]["ordinal"]),
                                           r.host_ip(r.pods[pod]["ordinal"]),
                                           srv.endpoint(r.namespace, pod)))
        env.update(template_env(r, pod))
        return text, env
    r.cluster.model.config_source = source


def find(srv, ns, name):
    for r in srv.releases:
        if r.namespace == ns and configmap_name(r) == name:
            return r
    return None


async def get_configmap(srv, request):
    ns, name = request.match_info["ns"], request.match_info["name"]
    denied = srv.check(request, "get", "configmaps", ns, name)
    if denied is not None:
        return denied
    r = find(srv, ns, name)
    if r is None:
        return srv.not_found("configmaps", name)
    return web.json_response(configmap_object(r))


async def list_configmaps(srv, request):
    ns = request.match_info.get("ns")
    denied = srv.check(request, "list", "configmaps", ns)
    if denied is not None:
        return denied
    items = [configmap_object(r) for r in srv.releases if ns is None or r.namespace == ns]
    return srv.listing("ConfigMapList", "v1", items)


async def change_configmap(srv, request):
    """PATCH (merge or strategic merge: data merges by key, null deletes) or PUT (replace)."""
    ns, name = request.match_info["ns"], request.match_info["name"]
    verb = "update" if request.method == "PUT" else "patch"
    denied = srv.check(request, verb, "configmaps", ns, name)
    if denied is not None:
        return denied
    r = find(srv, ns, name)
    if r is None:
        return srv.not_found("configmaps", name)
    try:
        body = json.loads(await request.read())
    except ValueError as e:
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                  "message": "invalid JSON: %s" % e, "reason": "BadRequest",
                                  "code": 400}, status=400)
    data = configmap_data(r)
    new = body.get("data") if isinstance(body, dict) else None
    if request.method == "PUT":
        data = {k: str(v) for k, v in (new or {}).items()}
    elif isinstance(new, dict):
        data = copy.deepcopy(data)
        for k, v in new.items():
            if v is None:
                data.pop(k, None)
            else:
                data[k] = str(v)
    r.configmap = data
    r.configmap_version += 1
    return web.json_response(configmap_object(r))


def routes(srv):
    ns = "/api/v1/namespaces/{ns}"
    return [
        web.get("/api/v1/configmaps", lambda req: list_configmaps(srv, req)),
        web.get(ns + "/configmaps", lambda req: list_configmaps(srv, req)),
        web.get(ns + "/configmaps/{name}", lambda req: get_configmap(srv, req)),
        web.patch(ns + "/configmaps/{name}", lambda req: change_configmap(srv, req)),
        web.put(ns + "/configmaps/{name}", lambda req: change_configmap(srv, req)),
    ]


def control(srv, r, action, body):
    """Control actions: `configmap {namespace, data}` (what helm upgrade writes; null removes a
    key), `secret {namespace, name, data}`, `transit {namespace, available, token, add_key}`."""
    if action == "configmap":
        data = dict(configmap_data(r))
        for k, v in body.get("data", {}).items():
            if v is None:
                data.pop(k, None)
            else:
                data[k] = v
        r.configmap = data
        r.configmap_version += 1
    elif action == "secret":
        if not hasattr(r, "secrets"):
            r.secrets = {}
        r.secrets[body["name"]] = dict(body.get("data") or {})
    elif action == "transit":
        r.cluster.set_transit(body.get("available"), body.get("token"))
        if body.get("add_key"):  # another key under the mount (another cluster's seal key)
            r.cluster.model.transit.keys.add(str(body["add_key"]))
        return {"ok": True, "address": r.cluster.model.transit.address,
                "token": r.cluster.model.transit.token,
                "mount": r.cluster.model.transit.mount, "key": r.cluster.model.transit.key,
                "encrypts": r.cluster.model.transit.encrypts,
                "leaked": r.cluster.model.transit.leaked}
    return {"ok": True}
