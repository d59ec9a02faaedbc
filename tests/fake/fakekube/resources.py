"""Kubernetes objects as the Vault Helm chart creates them (docs/vault-cli.md §7,
§8 for OpenBao), kept in step with the simulated Vault nodes."""
import copy
import datetime
import hashlib
import json
import math
import re
import time
import uuid

# OrderedReady: how long after the pods before it are Ready a pod appears.
ORDERED_CREATE_SECONDS = 1.0
# The StatefulSet controller observes a spec change (status.observedGeneration, updateRevision)
# a moment after the API server stored it: clients that read status right after a PATCH see
# the old revision (docs/kubernetes.md §7).
CONTROLLER_SECONDS = 0.5
# rand.SafeEncodeString's alphabet (apimachinery), used for controller-revision-hash.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339():
    return datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def combine_patches(first, second):
    """One merge patch that does what first then second do (nulls kept: they delete)."""
    if not isinstance(first, dict) or not isinstance(second, dict):
        return copy.deepcopy(second)
    out = dict(first)
    for k, v in second.items():
        out[k] = combine_patches(out[k], v) if isinstance(v, dict) and \
            isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def fnv32a(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def revision_hash(template):
    """controller-revision-hash as the StatefulSet controller derives it: FNV-32a of the
    revision's data (the template patch), written with rand.SafeEncodeString."""
    raw = json.dumps({"spec": {"template": dict(template, **{"$patch": "replace"})}},
                     sort_keys=True, separators=(",", ":")).encode()
    return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in str(fnv32a(raw)))


def image_version(image):
    """The version an image tag names ("hashicorp/vault:1.21.3" -> "1.21.3"), or None."""
    tag = image.rsplit("/", 1)[-1].split("@", 1)[0]
    tag = tag.split(":", 1)[1] if ":" in tag else ""
    m = re.match(r"v?(\d+\.\d+\.\d+\S*)$", tag)
    return m.group(1) if m else None


def selects(selector, labels):
    """A Service's (or matchLabels) selector: every key/value present; an empty one selects
    nothing (a Service without a selector gets no Endpoints from the controller)."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


ZONES = ("zone-a", "zone-b", "zone-c")
# The chart's dataStorage.size (and auditStorage.size) default (docs/vault-cli.md §7.8).
PVC_SIZE = "10Gi"
PVC_KIB = 10 * 1024 * 1024


class Release:
    """One Vault (or OpenBao) release: a StatefulSet, its pods and services."""

    def __init__(self, index, cluster, namespace, release, fullname, replicas, openbao,
                 pod_states):
        self.index = index
        self.cluster = cluster          # vaultsim.VaultCluster
        self.namespace = namespace
        self.release = release
        self.fullname = fullname
        self.replicas = replicas
        self.openbao = openbao
        self.name = "openbao" if openbao else "vault"
        self.chart = "openbao-0.29.2" if openbao else "vault-0.34.1"
        self.sts_uid = str(uuid.uuid4())
        self.created = now_rfc3339()
        self.label_overrides = {}       # pod -> {label: value or None}
        self.pod_states = dict(pod_states)  # pod -> state string
        # OpenBao's chart is OrderedReady (docs/vault-cli.md §8): pod N is created only once
        # pods 0..N-1 are Ready (unsealed); once created it stays. Vault's is Parallel.
        self.ordered = openbao
        self.created_pods = set()
        self.creatable_since = {}  # pod -> when the pods before it were all first seen Ready
        self.patches = {}          # (kind, name) -> merge patch; shared with the server
        self.audit_storage = False  # the chart's auditStorage.enabled: audit-<sts>-N PVCs too
        self.data_path = None  # server.dataStorage.mountPath (and the raft path), None: default
        # The StatefulSet's template and revisions: pods carry the revision they were created
        # from (controller-revision-hash) and its image until they are deleted (OnDelete).
        self.revision = "%s-5d8c7b9f6" % fullname   # updateRevision, as the controller saw it
        self._template = None
        self.revisions = {}         # revision name -> template
        self.update_strategy = {"type": "OnDelete"}
        self.generation = 1
        self.observed_generation = 1
        self.pending_observe = None  # (due, generation, revision) of a spec change
        self.resource_version = 1
        self.sts_labels = None      # metadata changes made through PATCH
        self.sts_annotations = None
        # How long a deleted pod takes to come back: half terminating (the old pod with a
        # deletionTimestamp), half ContainerCreating (the new pod, not running yet); 0 = at once.
        self.restart_seconds = 0.0
        self.broken_images = {}     # image -> the kubelet's reason (ImagePullBackOff, ...)
        self.fs_ready = set()       # pods whose files (config, data dir, certificate) exist
        self.dns_faults = {}        # pod -> {"mode": nxdomain|stale|lag, "ip", "seconds"}
        self.missing_tools = {}     # pod or "*" -> tools the image lacks (nslookup, getent)
        self.disk = {}              # pod or "*" -> fill level of the data volume in percent
        self.lost = set()           # pods lost with their node or volume (the `lose` action)
        self.pods = {}
        for i in range(replicas):
            self._new_pod(i)

    def pod_name(self, i):
        return "%s-%d" % (self.fullname, i)

    def pod_ip(self, i):
        return "10.244.%d.%d" % (self.index * 10 + i + 1, 17 + i)

    def host_ip(self, i):
        return "172.18.0.%d" % (2 + i)

    def _new_pod(self, i):
        self.pods[self.pod_name(i)] = {"uid": str(uuid.uuid4()), "created": now_rfc3339(),
                                       "started": now_rfc3339(), "started_mono": time.monotonic(),
                                       "restarts": 0, "ordinal": i,
                                       "revision": getattr(self, "revision", None)}

    # --- the template and its revisions ------------------------------------------------------
    @property
    def template(self):
        if self._template is None:
            scheme = "https" if self.cluster.tls else "http"
            env_prefix = "BAO_" if self.openbao else "VAULT_"
            self._template = {
                "metadata": {"labels": {"helm.sh/chart": self.chart, **self.selector_labels()}},
                "spec": {"containers": [{
                    "name": self.cluster.container_name, "image": self.cluster.image,
                    "env": [{"name": env_prefix + "ADDR",
                             "value": "%s://127.0.0.1:8200" % scheme}],
                    "volumeMounts": self.volume_mounts()}],
                    "volumes": [{"name": "config", "configMap": {
                        "name": "%s-config" % self.fullname}},
                        {"name": "home", "emptyDir": {}}]}}
            self.revisions.setdefault(self.initial_revision(), copy.deepcopy(self._template))
        return self._template

    def template_of(self, revision):
        """The template a revision was made from (a revision set by the tests' `revision`
        action without a template has the current one)."""
        t = self.template
        return self.revisions.setdefault(revision or self.revision, copy.deepcopy(t))

    def container_image(self, template):
        for c in template.get("spec", {}).get("containers", []):
            if c.get("name") == self.cluster.container_name:
                return c.get("image", "")
        return self.cluster.image

    def controller_tick(self):
        """The StatefulSet controller catches up with the last spec change."""
        if self.pending_observe is not None and time.monotonic() >= self.pending_observe[0]:
            _, gen, rev = self.pending_observe
            self.pending_observe = None
            self.observed_generation = gen
            self.revision = rev

    def set_template(self, template):
        """A PATCH changed spec.template: a new revision (or an earlier one with the same
        template), observed by the controller CONTROLLER_SECONDS later."""
        self.template  # the initial revision exists
        self._template = copy.deepcopy(template)
        key = json.dumps(template, sort_keys=True)
        rev = next((name for name, t in self.revisions.items()
                    if json.dumps(t, sort_keys=True) == key), None)
        if rev is None:
            rev = "%s-%s" % (self.fullname, revision_hash(template))
            self.revisions[rev] = copy.deepcopy(template)
        self.spec_changed(rev)

    def spec_changed(self, revision=None):
        self.generation += 1
        rev = revision or (self.pending_observe[2] if self.pending_observe else self.revision)
        self.pending_observe = (time.monotonic() + CONTROLLER_SECONDS, self.generation, rev)

    def patched(self, kind, name, obj):
        """The object with the tests' merge patch for (kind, name) applied; None when the
        patch is null (the object was deleted)."""
        key = (kind, name)
        if key not in self.patches:
            return obj
        if self.patches[key] is None:
            return None
        return merge_patch(obj, self.patches[key])

    def tls_dir(self):
        return "/%s/userconfig/%s-ha-tls" % (self.name, self.name)

    def config_hcl(self):
        """The server config the chart puts in <fullname>-config (extraconfig-from-values.hcl):
        the runbook's values (examples/vault-ha-values.yaml), or Vault's Kubernetes TLS
        tutorial's listener with --tls; the chart appends disable_mlock."""
        if self.cluster.tls:
            d = self.tls_dir()
            listener = ('listener "tcp" {\n  tls_disable = 0\n  address = "[::]:8200"\n'
                        '  cluster_address = "[::]:8201"\n'
                        '  tls_cert_file = "%s/vault.crt"\n  tls_key_file = "%s/vault.key"\n'
                        '  tls_client_ca_file = "%s/vault.ca"\n}\n' % (d, d, d))
        else:
            listener = ('listener "tcp" {\n  tls_disable = 1\n  address = "[::]:8200"\n'
                        '  cluster_address = "[::]:8201"\n}\n')
        from vaultsim.ceremony import unauth_config_line
        return ('ui = true\n\n%s\nstorage "raft" {\n  path = "%s"\n}\n\n'
                'service_registration "kubernetes" {}\n%s%sdisable_mlock = true\n'
                % (listener, self.data_dir(), self.seal_hcl(),
                   unauth_config_line(self.cluster.options)))

    def seal_hcl(self):
        """The seal stanza of a release whose Vault was set up with an auto seal (the
        simulator's seal_type option)."""
        seal_type = self.cluster.options["seal_type"]
        if seal_type == "shamir":
            return ""
        if seal_type == "transit":
            tr = self.cluster.model.transit
            return ('seal "transit" {\n  address = "%s"\n  token = "%s"\n  key_name = "%s"\n'
                    '  mount_path = "%s/"\n}\n' % (tr.address, tr.token, tr.key, tr.mount))
        return 'seal "%s" {\n  kms_key_id = "alias/vault-unseal"\n}\n' % seal_type

    def data_dir(self):
        if self.data_path:
            return self.data_path
        return "/openbao/data" if self.openbao else "/vault/data"

    def config_dir(self):
        return "/openbao/config" if self.openbao else "/vault/config"

    def restart(self, pod):
        """The pod was deleted: the StatefulSet controller creates it again from the update
        revision (OnDelete), after restart_seconds (terminating, then ContainerCreating)."""
        self.controller_tick()
        old = self.pods[pod]
        i = old["ordinal"]
        self._new_pod(i)
        new = self.pods[pod]
        if self.restart_seconds > 0:
            t = time.monotonic()
            old.pop("previous", None)
            new["previous"] = old
            new["terminating_until"] = t + self.restart_seconds / 2
            new["creating_until"] = t + self.restart_seconds
            new["started_mono"] = t + self.restart_seconds
        # The image tag is the version the restarted Vault reports.
        version = image_version(self.container_image(self.template_of(new["revision"])))
        if version is not None:
            self.cluster.set_pod_version(pod, version)

    def state(self, pod):
        if pod in self.pod_states:
            return self.pod_states[pod]
        if self.cluster.crashed(pod) is not None:
            return "CrashLoopBackOff"   # Vault exited at start (a bad seal config)
        if self.ordered and not self._created(pod):
            return "missing"
        info = self.pods[pod]
        now = time.monotonic()
        if info.get("terminating_until", 0) > now:
            return "Terminating"
        if info.get("creating_until", 0) > now:
            return "ContainerCreating"
        if self.broken_images and \
                self.container_image(self.template_of(info.get("revision"))) in self.broken_images:
            return "BrokenImage"
        return "Running"

    def _created(self, pod):
        if pod in self.created_pods:
            return True
        i = self.pods[pod]["ordinal"]
        if not all(self.ready(self.pod_name(j)) for j in range(i)):
            self.creatable_since.pop(pod, None)
            return False
        # The readiness probe's period and the pod's start take a moment.
        since = self.creatable_since.setdefault(pod, time.monotonic())
        if i > 0 and time.monotonic() - since < ORDERED_CREATE_SECONDS:
            return False
        self.created_pods.add(pod)
        if i > 0:  # created now, by the StatefulSet controller
            self.pods[pod]["created"] = self.pods[pod]["started"] = now_rfc3339()
        return True

    def selector_labels(self):
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/instance": self.release,
                "component": "server"}

    def shown_info(self, pod):
        """What the API shows for the pod: while a deleted pod terminates, the old one."""
        info = self.pods[pod]
        if self.state(pod) == "Terminating" and "previous" in info:
            return info["previous"]
        return info

    def labels(self, pod):
        info = self.shown_info(pod)
        labels = {"helm.sh/chart": self.chart, **self.selector_labels(),
                  "controller-revision-hash": info.get("revision") or self.revision,
                  "statefulset.kubernetes.io/pod-name": pod,
                  "apps.kubernetes.io/pod-index": str(info["ordinal"])}
        if self.state(pod) in ("Running", "Terminating"):
            labels.update(self.cluster.labels(pod))
        for k, v in self.label_overrides.get(pod, {}).items():
            if v is None:
                labels.pop(k, None)
            else:
                labels[k] = v
        return labels

    def ready(self, pod):
        return self.state(pod) == "Running" and self.cluster.ready(pod)

    def pod_object(self, pod):
        info = self.shown_info(pod)
        i = info["ordinal"]
        state = self.state(pod)
        image = self.container_image(self.template_of(info.get("revision")))
        scheme = "https" if self.cluster.tls else "http"
        container = self.cluster.container_name
        env_prefix = "BAO_" if self.openbao else "VAULT_"
        spec = {
            "containers": [{
                "name": container, "image": image,
                "command": ["/bin/sh", "-ec"],
                "ports": [{"containerPort": 8200, "name": scheme, "protocol": "TCP"},
                          {"containerPort": 8201, "name": "https-internal", "protocol": "TCP"},
                          {"containerPort": 8202, "name": "%s-rep" % scheme, "protocol": "TCP"}],
                "env": [{"name": env_prefix + "ADDR", "value": "%s://127.0.0.1:8200" % scheme}],
                "volumeMounts": self.volume_mounts(),
                "readinessProbe": {"exec": {"command": ["/bin/sh", "-ec",
                                                        "%s status -tls-skip-verify" %
                                                        ("bao" if self.openbao else "vault")]},
                                   "failureThreshold": 2, "initialDelaySeconds": 5,
                                   "periodSeconds": 5, "timeoutSeconds": 3},
            }],
            "hostname": pod, "subdomain": "%s-internal" % self.fullname,
            "serviceAccountName": self.fullname, "restartPolicy": "Always",
            "volumes": [{"name": c, "persistentVolumeClaim": {"claimName": "%s-%s" % (c, pod)}}
                        for c in self.claim_names()] + [
                {"name": "config", "configMap": {"name": "%s-config" % self.fullname,
                                                 "defaultMode": 420}},
                {"name": "home", "emptyDir": {}}],
        }
        status = {"phase": "Running", "qosClass": "BestEffort"}
        ready = False
        cstate = {"running": {"startedAt": info["started"]}}
        if state.startswith("Pending"):
            reason = state.split(":", 1)[1] if ":" in state else "Unschedulable"
            status = {"phase": "Pending", "qosClass": "BestEffort", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": reason,
                "message": "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity "
                           "rules. preemption: 0/3 nodes are available."}]}
            return self._wrap(pod, info, spec, status)
        spec["nodeName"] = "node-%d" % i
        restarts = info["restarts"]
        if state in ("ContainerCreating", "BrokenImage"):
            # Scheduled, the sandbox and container being set up (or its image cannot be
            # pulled): no IP, not running.
            waiting = {"reason": "ContainerCreating"}
            if state == "BrokenImage":
                reason = self.broken_images[image]
                waiting = {"reason": reason, "message": 'Back-off pulling image "%s"' % image
                           if reason == "ImagePullBackOff" else "%s: %s" % (reason, image)}
            status = {"phase": "Pending", "qosClass": "BestEffort", "hostIP": self.host_ip(i),
                      "startTime": info["created"], "conditions": [
                          {"type": "Initialized", "status": "True"},
                          {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                           "message": "containers with unready status: [%s]" % container},
                          {"type": "ContainersReady", "status": "False",
                           "reason": "ContainersNotReady"},
                          {"type": "PodScheduled", "status": "True"}],
                      "containerStatuses": [{"name": container, "image": image, "imageID": "",
                                             "ready": False, "restartCount": 0,
                                             "started": False, "lastState": {},
                                             "state": {"waiting": waiting}}]}
            return self._wrap(pod, info, spec, status)
        if state == "CrashLoopBackOff":
            cstate = {"waiting": {"reason": "CrashLoopBackOff",
                                  "message": "back-off 5m0s restarting failed container=%s pod=%s"
                                             % (container, pod)}}
            restarts = max(restarts, 7)
        else:
            ready = self.ready(pod)
        if state == "Terminating":
            ready = False
        status.update({
            "hostIP": self.host_ip(i), "podIP": self.pod_ip(i),
            "podIPs": [{"ip": self.pod_ip(i)}], "startTime": info["created"],
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True" if ready else "False"},
                {"type": "ContainersReady", "status": "True" if ready else "False"},
                {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": container, "image": image,
                                   "imageID": "docker.io/%s@sha256:%s" % (
                                       image.split(":")[0],
                                       hashlib.sha256(image.encode()).hexdigest()),
                                   "containerID": "containerd://%s" % hashlib.sha256(
                                       info["uid"].encode()).hexdigest(),
                                   "ready": ready, "restartCount": restarts, "started": True,
                                   "lastState": {}, "state": cstate}],
        })
        return self._wrap(pod, info, spec, status)

    def _wrap(self, pod, info, spec, status):
        meta = {"name": pod, "namespace": self.namespace, "uid": info["uid"],
                "resourceVersion": "1", "creationTimestamp": info["created"],
                "generateName": self.fullname + "-", "labels": self.labels(pod),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                     "name": self.fullname, "uid": self.sts_uid,
                                     "controller": True, "blockOwnerDeletion": True}]}
        if self.state(pod) == "Terminating":
            meta["deletionTimestamp"] = self.pods[pod]["created"]
            meta["deletionGracePeriodSeconds"] = 30
        return self.patched("Pod", pod, {"kind": "Pod", "apiVersion": "v1", "metadata": meta,
                                         "spec": spec, "status": status})

    def existing_pods(self):
        return [p for p in sorted(self.pods, key=lambda n: self.pods[n]["ordinal"])
                if self.state(p) != "missing"]

    def claim_names(self):
        return ["data", "audit"] if self.audit_storage else ["data"]

    def volume_mounts(self):
        base = "/openbao" if self.openbao else "/vault"
        mounts = [{"name": "data", "mountPath": self.data_dir()}]
        if self.audit_storage:
            mounts.append({"name": "audit", "mountPath": base + "/audit"})
        return mounts + [{"name": "config", "mountPath": self.config_dir()},
                         {"name": "home", "mountPath": "/home/" + self.name}]

    def statefulset_object(self):
        self.controller_tick()
        ready = sum(1 for p in self.existing_pods() if self.ready(p))
        existing = len(self.existing_pods())
        current = sum(1 for p in self.existing_pods()
                      if self.shown_info(p).get("revision") == self.initial_revision())
        updated = sum(1 for p in self.existing_pods()
                      if self.shown_info(p).get("revision") == self.revision)
        claims = [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": c},
                   "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": PVC_SIZE}},
                            "volumeMode": "Filesystem"}} for c in self.claim_names()]
        labels = {"app.kubernetes.io/name": self.name,
                  "app.kubernetes.io/instance": self.release,
                  "app.kubernetes.io/managed-by": "Helm"}
        annotations = {"meta.helm.sh/release-name": self.release,
                       "meta.helm.sh/release-namespace": self.namespace}
        return self.patched("StatefulSet", self.fullname, {"kind": "StatefulSet", "apiVersion": "apps/v1", "metadata": {
            "name": self.fullname, "namespace": self.namespace, "uid": self.sts_uid,
            "resourceVersion": str(self.resource_version), "generation": self.generation,
            "creationTimestamp": self.created,
            "labels": self.sts_labels if self.sts_labels is not None else labels,
            "annotations": self.sts_annotations if self.sts_annotations is not None
            else annotations},
            "spec": {"replicas": self.replicas, "serviceName": "%s-internal" % self.fullname,
                     "podManagementPolicy": "OrderedReady" if self.openbao else "Parallel",
                     "updateStrategy": copy.deepcopy(self.update_strategy),
                     "selector": {"matchLabels": self.selector_labels()},
                     "template": copy.deepcopy(self.template),
                     "volumeClaimTemplates": claims},
            # OnDelete: currentRevision is never promoted (docs/kubernetes.md §7).
            "status": {"observedGeneration": self.observed_generation, "replicas": existing,
                       "readyReplicas": ready,
                       "currentReplicas": current, "updatedReplicas": updated,
                       "availableReplicas": ready,
                       "currentRevision": self.initial_revision(),
                       "updateRevision": self.revision}})

    def initial_revision(self):
        return "%s-5d8c7b9f6" % self.fullname

    def _meta(self, name, labels, kind_uid):
        return {"name": name, "namespace": self.namespace, "uid": str(uuid.uuid5(
            uuid.NAMESPACE_DNS, "%s/%s/%s" % (kind_uid, self.namespace, name))),
            "resourceVersion": "1", "creationTimestamp": self.created, "labels": labels}

    def chart_labels(self):
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/instance": self.release,
                "app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": self.chart}

    def services(self):
        """The chart's Services (docs/vault-cli.md §7) with the runbook's values: only the headless
        <fullname>-internal publishes not-ready addresses (always, vault-helm#902); the client
        Services do not (server.service.publishNotReadyAddresses: false in
        examples/vault-ha-values.yaml, hashicorp/vault-helm#817)."""
        scheme = "https" if self.cluster.tls else "http"
        ports = [{"name": scheme, "port": 8200, "protocol": "TCP", "targetPort": 8200},
                 {"name": "https-internal", "port": 8201, "protocol": "TCP", "targetPort": 8201}]
        active_label = "%s-active" % self.name

        def svc(name, selector, extra_labels=None, headless=False, publish=False):
            o = {"kind": "Service", "apiVersion": "v1",
                 "metadata": self._meta(name, {**self.chart_labels(), **(extra_labels or {})},
                                        "Service"),
                 "spec": {"ports": ports, "selector": selector, "type": "ClusterIP",
                          "publishNotReadyAddresses": publish,
                          "clusterIP": "None" if headless else "10.96.0.%d" % (10 + len(name)),
                          "sessionAffinity": "None"},
                 "status": {"loadBalancer": {}}}
            if not publish:
                del o["spec"]["publishNotReadyAddresses"]  # false is omitted, as Go does
            return self.patched("Service", name, o)
        sel = self.selector_labels()
        out = [svc(self.fullname, sel),
               svc(self.fullname + "-internal", sel, {"%s-internal" % self.name: "true"}, True,
                   True),
               svc(self.fullname + "-active", {**sel, active_label: "true"},
                   {active_label: "true"}),
               svc(self.fullname + "-standby", {**sel, active_label: "false"})]
        return [o for o in out if o is not None]

    def service(self, name):
        return next((s for s in self.services() if s["metadata"]["name"] == name), None)

    def _endpoint_pods(self, svc):
        """(pod object, ready) for every pod with an IP that the Service selects."""
        out = []
        for p in self.existing_pods():
            obj = self.pod_object(p)
            if not selects(svc["spec"].get("selector"), obj["metadata"]["labels"]):
                continue
            if not obj["status"].get("podIP"):
                continue
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in obj["status"].get("conditions", []))
            out.append((obj, ready))
        return out

    @staticmethod
    def _hostname(obj, svc):
        # endpointutil.ShouldSetHostname: the pod's subdomain names this Service
        spec = obj["spec"]
        if spec.get("hostname") and spec.get("subdomain") == svc["metadata"]["name"]:
            return spec["hostname"]
        return None

    def endpoints_object(self, svc):
        """v1 Endpoints as the endpoints controller writes them: not-ready pods under
        notReadyAddresses unless the Service publishes them."""
        publish = bool(svc["spec"].get("publishNotReadyAddresses"))
        ready, not_ready = [], []
        for obj, is_ready in self._endpoint_pods(svc):
            addr = {"ip": obj["status"]["podIP"], "nodeName": obj["spec"].get("nodeName"),
                    "targetRef": {"kind": "Pod", "name": obj["metadata"]["name"],
                                  "namespace": self.namespace, "uid": obj["metadata"]["uid"]}}
            host = self._hostname(obj, svc)
            if host:
                addr["hostname"] = host
            (ready if (is_ready or publish) else not_ready).append(addr)
        subset = {"ports": [{"name": pt["name"], "port": pt["port"], "protocol": "TCP"}
                            for pt in svc["spec"]["ports"]]}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        name = svc["metadata"]["name"]
        return {"kind": "Endpoints", "apiVersion": "v1",
                "metadata": {**self._meta(name, dict(svc["metadata"].get("labels", {})),
                                          "Endpoints")},
                "subsets": [subset] if (ready or not_ready) else []}

    def endpointslice_object(self, svc, zone_of):
        """discovery.k8s.io/v1 EndpointSlice as the EndpointSlice controller writes it
        (podToEndpoint: ready = publishNotReadyAddresses || (serving && !terminating))."""
        publish = bool(svc["spec"].get("publishNotReadyAddresses"))
        name = svc["metadata"]["name"]
        eps = []
        for obj, is_ready in self._endpoint_pods(svc):
            ep = {"addresses": [obj["status"]["podIP"]],
                  "conditions": {"ready": publish or is_ready, "serving": is_ready,
                                 "terminating": False},
                  "targetRef": {"kind": "Pod", "namespace": self.namespace,
                                "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}}
            node = obj["spec"].get("nodeName")
            if node:
                ep["nodeName"] = node
                if zone_of(node):
                    ep["zone"] = zone_of(node)
            host = self._hostname(obj, svc)
            if host:
                ep["hostname"] = host
            eps.append(ep)
        labels = {**svc["metadata"].get("labels", {}), "kubernetes.io/service-name": name,
                  "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
        if svc["spec"].get("clusterIP") == "None":
            labels["service.kubernetes.io/headless"] = ""
        slice_name = "%s-%s" % (name, hashlib.sha256(name.encode()).hexdigest()[:5])
        meta = self._meta(slice_name, labels, "EndpointSlice")
        meta["generateName"] = name + "-"
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Service", "name": name,
                                    "uid": svc["metadata"]["uid"], "controller": True,
                                    "blockOwnerDeletion": True}]
        return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "metadata": meta,
                "addressType": "IPv4", "endpoints": eps,
                "ports": [{"name": pt["name"], "port": pt["port"], "protocol": "TCP"}
                          for pt in svc["spec"]["ports"]]}

    def pvc_objects(self):
        """data-<sts>-N (and audit-<sts>-N) as the StatefulSet controller creates them from
        volumeClaimTemplates: the selector's labels, Bound, with capacity."""
        out = []
        for p in sorted(self.pods, key=lambda n: self.pods[n]["ordinal"]):
            if self.state(p) == "missing":
                continue
            for c in self.claim_names():
                name = "%s-%s" % (c, p)
                meta = self._meta(name, dict(self.selector_labels()), "PersistentVolumeClaim")
                meta["annotations"] = {"pv.kubernetes.io/bind-completed": "yes",
                                       "pv.kubernetes.io/bound-by-controller": "yes",
                                       "volume.kubernetes.io/storage-provisioner":
                                           "rancher.io/local-path"}
                meta["finalizers"] = ["kubernetes.io/pvc-protection"]
                obj = {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "metadata": meta,
                       "spec": {"accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": PVC_SIZE}},
                                "volumeName": "pvc-" + meta["uid"],
                                "storageClassName": "standard", "volumeMode": "Filesystem"},
                       "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                                  "capacity": {"storage": PVC_SIZE}}}
                obj = self.patched("PersistentVolumeClaim", name, obj)
                if obj is not None:
                    out.append(obj)
        return out

    def pdb_object(self):
        """The chart's PodDisruptionBudget: maxUnavailable floor((n-1)/2) (vault.pdb.maxUnavailable)."""
        max_unavailable = 0 if self.replicas == 1 else (self.replicas - 1) // 2
        # The status follows the spec as a test patched it (the disruption controller's
        # arithmetic), so that a stricter budget refuses evictions as a real one does.
        key = ("PodDisruptionBudget", self.fullname)
        spec_patch = (self.patches.get(key) or {}).get("spec") or {}
        healthy = sum(1 for p in self.existing_pods() if self.ready(p))
        expected = len(self.existing_pods())
        if isinstance(spec_patch.get("minAvailable"), int):
            desired = spec_patch["minAvailable"]
        else:
            desired = max(0, expected - spec_patch.get("maxUnavailable", max_unavailable))
        obj = {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
               "metadata": {**self._meta(self.fullname, self.chart_labels(),
                                         "PodDisruptionBudget"), "generation": 1},
               "spec": {"maxUnavailable": max_unavailable,
                        "selector": {"matchLabels": self.selector_labels()}},
               "status": {"observedGeneration": 1, "currentHealthy": healthy,
                          "desiredHealthy": desired, "expectedPods": expected,
                          "disruptionsAllowed": max(0, healthy - desired),
                          "conditions": [{"type": "DisruptionAllowed",
                                          "status": "True" if healthy > desired else "False",
                                          "reason": "SufficientPods" if healthy > desired
                                          else "InsufficientPods",
                                          "lastTransitionTime": self.created,
                                          "message": "", "observedGeneration": 1}]}}
        return self.patched("PodDisruptionBudget", self.fullname, obj)
