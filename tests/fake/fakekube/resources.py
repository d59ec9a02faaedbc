"""Kubernetes objects as the Vault Helm chart creates them (facts/vault.md §7,
§8 for OpenBao), kept in step with the simulated Vault nodes."""
import datetime
import hashlib
import time
import uuid

# OrderedReady: how long after the pods before it are Ready a pod appears.
ORDERED_CREATE_SECONDS = 1.0


def now_rfc3339():
    return datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"


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
        # OpenBao's chart is OrderedReady (facts/vault.md §8): pod N is created only once
        # pods 0..N-1 are Ready (unsealed); once created it stays. Vault's is Parallel.
        self.ordered = openbao
        self.created_pods = set()
        self.creatable_since = {}  # pod -> when the pods before it were all first seen Ready
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
                                       "started": now_rfc3339(), "restarts": 0, "ordinal": i}

    def restart(self, pod):
        i = self.pods[pod]["ordinal"]
        self._new_pod(i)

    def state(self, pod):
        if pod in self.pod_states:
            return self.pod_states[pod]
        if self.ordered and not self._created(pod):
            return "missing"
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

    def labels(self, pod):
        info = self.pods[pod]
        labels = {"helm.sh/chart": self.chart, **self.selector_labels(),
                  "controller-revision-hash": "%s-5d8c7b9f6" % self.fullname,
                  "statefulset.kubernetes.io/pod-name": pod,
                  "apps.kubernetes.io/pod-index": str(info["ordinal"])}
        if self.state(pod) == "Running":
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
        info = self.pods[pod]
        i = info["ordinal"]
        state = self.state(pod)
        scheme = "https" if self.cluster.tls else "http"
        container = self.cluster.container_name
        env_prefix = "BAO_" if self.openbao else "VAULT_"
        spec = {
            "containers": [{
                "name": container, "image": self.cluster.image,
                "command": ["/bin/sh", "-ec"],
                "ports": [{"containerPort": 8200, "name": scheme, "protocol": "TCP"},
                          {"containerPort": 8201, "name": "https-internal", "protocol": "TCP"},
                          {"containerPort": 8202, "name": "%s-rep" % scheme, "protocol": "TCP"}],
                "env": [{"name": env_prefix + "ADDR", "value": "%s://127.0.0.1:8200" % scheme}],
                "readinessProbe": {"exec": {"command": ["/bin/sh", "-ec",
                                                        "%s status -tls-skip-verify" %
                                                        ("bao" if self.openbao else "vault")]},
                                   "failureThreshold": 2, "initialDelaySeconds": 5,
                                   "periodSeconds": 5, "timeoutSeconds": 3},
            }],
            "hostname": pod, "subdomain": "%s-internal" % self.fullname,
            "serviceAccountName": self.fullname, "restartPolicy": "Always",
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
        if state == "CrashLoopBackOff":
            cstate = {"waiting": {"reason": "CrashLoopBackOff",
                                  "message": "back-off 5m0s restarting failed container=%s pod=%s"
                                             % (container, pod)}}
            restarts = max(restarts, 7)
        else:
            ready = self.ready(pod)
        status.update({
            "hostIP": self.host_ip(i), "podIP": self.pod_ip(i),
            "podIPs": [{"ip": self.pod_ip(i)}], "startTime": info["created"],
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True" if ready else "False"},
                {"type": "ContainersReady", "status": "True" if ready else "False"},
                {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": container, "image": self.cluster.image,
                                   "imageID": "docker.io/%s@sha256:%s" % (
                                       self.cluster.image.split(":")[0],
                                       hashlib.sha256(self.cluster.image.encode()).hexdigest()),
                                   "containerID": "containerd://%s" % hashlib.sha256(
                                       info["uid"].encode()).hexdigest(),
                                   "ready": ready, "restartCount": restarts, "started": True,
                                   "lastState": {}, "state": cstate}],
        })
        return self._wrap(pod, info, spec, status)

    def _wrap(self, pod, info, spec, status):
        return {"kind": "Pod", "apiVersion": "v1", "metadata": {
            "name": pod, "namespace": self.namespace, "uid": info["uid"],
            "resourceVersion": "1", "creationTimestamp": info["created"],
            "generateName": self.fullname + "-", "labels": self.labels(pod),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                 "name": self.fullname, "uid": self.sts_uid,
                                 "controller": True, "blockOwnerDeletion": True}]},
            "spec": spec, "status": status}

    def existing_pods(self):
        return [p for p in sorted(self.pods, key=lambda n: self.pods[n]["ordinal"])
                if self.state(p) != "missing"]

    def statefulset_object(self):
        ready = sum(1 for p in self.existing_pods() if self.ready(p))
        existing = len(self.existing_pods())
        scheme = "https" if self.cluster.tls else "http"
        env_prefix = "BAO_" if self.openbao else "VAULT_"
        return {"kind": "StatefulSet", "apiVersion": "apps/v1", "metadata": {
            "name": self.fullname, "namespace": self.namespace, "uid": self.sts_uid,
            "resourceVersion": "1", "generation": 1, "creationTimestamp": self.created,
            "labels": {"app.kubernetes.io/name": self.name,
                       "app.kubernetes.io/instance": self.release,
                       "app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": self.release,
                            "meta.helm.sh/release-namespace": self.namespace}},
            "spec": {"replicas": self.replicas, "serviceName": "%s-internal" % self.fullname,
                     "podManagementPolicy": "OrderedReady" if self.openbao else "Parallel",
                     "updateStrategy": {"type": "OnDelete"},
                     "selector": {"matchLabels": self.selector_labels()},
                     "template": {"metadata": {"labels": {"helm.sh/chart": self.chart,
                                                          **self.selector_labels()}},
                                  "spec": {"containers": [{
                                      "name": self.cluster.container_name,
                                      "image": self.cluster.image,
                                      "env": [{"name": env_prefix + "ADDR",
                                               "value": "%s://127.0.0.1:8200" % scheme}]}]}}},
            "status": {"observedGeneration": 1, "replicas": existing, "readyReplicas": ready,
                       "currentReplicas": existing, "updatedReplicas": existing,
                       "availableReplicas": ready,
                       "currentRevision": "%s-5d8c7b9f6" % self.fullname,
                       "updateRevision": "%s-5d8c7b9f6" % self.fullname}}

    def services(self):
        scheme = "https" if self.cluster.tls else "http"
        ports = [{"name": scheme, "port": 8200, "protocol": "TCP", "targetPort": 8200},
                 {"name": "https-internal", "port": 8201, "protocol": "TCP", "targetPort": 8201}]
        base = {"app.kubernetes.io/name": self.name, "app.kubernetes.io/instance": self.release,
                "app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": self.chart}
        active_label = "%s-active" % self.name

        def svc(name, selector, extra_labels=None, headless=False, ip="10.96.0.%d"):
            o = {"kind": "Service", "apiVersion": "v1", "metadata": {
                "name": name, "namespace": self.namespace, "uid": str(uuid.uuid5(
                    uuid.NAMESPACE_DNS, name + self.namespace)), "resourceVersion": "1",
                "creationTimestamp": self.created, "labels": {**base, **(extra_labels or {})}},
                "spec": {"ports": ports, "selector": selector, "type": "ClusterIP",
                         "publishNotReadyAddresses": True,
                         "clusterIP": "None" if headless else ip % (10 + len(name))},
                "status": {"loadBalancer": {}}}
            return o
        sel = self.selector_labels()
        return [svc(self.fullname, sel),
                svc(self.fullname + "-internal", sel, {"%s-internal" % self.name: "true"}, True),
                svc(self.fullname + "-active", {**sel, active_label: "true"},
                    {active_label: "true"}),
                svc(self.fullname + "-standby", {**sel, active_label: "false"})]
