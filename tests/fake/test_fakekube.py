"""The fake API server checked against independent, real clients: kubectl
(1.33 and 1.30, WebSocket exec v5) and Debian's python3-kubernetes (exec over
v4), plus raw WebSocket handshakes for what no client shows
(docs/kubernetes.md §1-§2)."""
import base64
import hashlib
import json
import os
import socket
import ssl
import time
import urllib.parse

import pytest
import yaml

from harness import FakeCluster


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    with FakeCluster(tmp_path_factory.mktemp("fake")) as f:
        yield f


def token_of(fake, user):
    kc = yaml.safe_load(open(fake.kubeconfig))
    return [u for u in kc["users"] if u["name"] == user][0]["user"]["token"]


@pytest.mark.parametrize("version", ["1.33", "1.30"])
def test_kubectl_get(fake, version):
    r = fake.kubectl("get", "pods,sts,svc", "-n", "vault", version=version)
    assert r.returncode == 0, r.stderr
    for name in ["pod/vault-0", "pod/vault-1", "pod/vault-2", "statefulset.apps/vault",
                 "service/vault-internal", "service/vault-active", "service/vault-standby"]:
        assert name in r.stdout
    r = fake.kubectl("get", "pods", "-n", "vault", "-l", "component=server,vault-sealed=true",
                     "-o", "name")
    assert r.stdout.split() == ["pod/vault-0", "pod/vault-1", "pod/vault-2"]
    r = fake.kubectl("get", "pods", "-n", "vault", "--field-selector", "metadata.name=vault-1",
                     "-o", "name")
    assert r.stdout.split() == ["pod/vault-1"]
    r = fake.kubectl("get", "sts", "vault", "-n", "vault", "-o", "json")
    sts = json.loads(r.stdout)
    # The chart's StatefulSet (docs/vault-cli.md §7).
    assert sts["metadata"]["labels"] == {"app.kubernetes.io/name": "vault",
                                         "app.kubernetes.io/instance": "vault",
                                         "app.kubernetes.io/managed-by": "Helm"}
    assert sts["spec"]["serviceName"] == "vault-internal"
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}


@pytest.mark.parametrize("version", ["1.33", "1.30"])
def test_kubectl_exec_streams_and_exit_code(fake, version):
    r = fake.kubectl("exec", "vault-0", "-n", "vault", "--", "sh", "-c",
                     "echo out; echo err >&2; exit 3", version=version)
    assert r.returncode == 3
    assert r.stdout == "out\n"
    assert r.stderr.startswith("err\n")
    data = os.urandom(3 << 20)
    r = fake.kubectl("exec", "-i", "vault-1", "-n", "vault", "--", "cat", version=version,
                     input=data)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(data).hexdigest()
    last = fake.exec_log()[-1]
    assert last["protocol"] == "v5.channel.k8s.io" and last["command"] == ["cat"]


def test_kubectl_errors(fake):
    r = fake.kubectl("--context", "fake-limited", "get", "pods", "-n", "vault")
    assert r.returncode == 1
    assert ('pods is forbidden: User "limited" cannot list resource "pods" in API group "" in '
            'the namespace "vault"') in r.stderr
    r = fake.kubectl("--context", "fake-badtoken", "get", "pods", "-n", "vault")
    assert "Unauthorized" in r.stderr or "provide credentials" in r.stderr
    r = fake.kubectl("get", "sts", "nope", "-n", "vault")
    assert r.returncode == 1
    assert r.stderr == 'Error from server (NotFound): statefulsets.apps "nope" not found\n'
    r = fake.kubectl("get", "pod", "nope", "-n", "vault")
    assert r.returncode == 1
    assert r.stderr == 'Error from server (NotFound): pods "nope" not found\n'
    r = fake.kubectl("get", "pod", "nope", "-n", "elsewhere")
    assert r.returncode == 1
    assert r.stderr == 'Error from server (NotFound): namespaces "elsewhere" not found\n'
    r = fake.kubectl("get", "namespace", "vault", "-o", "jsonpath={.status.phase}")
    assert r.returncode == 0 and r.stdout == "Active", r.stderr


def test_python_client_stream_v4(fake):
    from kubernetes import client, config
    from kubernetes.stream import stream
    api = client.CoreV1Api(config.new_client_from_config(config_file=fake.kubeconfig))
    assert sorted(p.metadata.name for p in api.list_namespaced_pod("vault").items) == \
        ["vault-0", "vault-1", "vault-2"]
    resp = stream(api.connect_get_namespaced_pod_exec, "vault-2", "vault",
                  command=["sh", "-c", "echo hello; exit 4"], stderr=True, stdin=False,
                  stdout=True, tty=False, _preload_content=False)
    out = ""
    while resp.is_open():
        resp.update(timeout=5)
        out += resp.read_stdout() or ""
    assert out == "hello\n"
    assert resp.returncode == 4
    assert fake.exec_log()[-1]["protocol"] == "v4.channel.k8s.io"


def handshake(fake, protocols, path=None, token_user="token-user"):
    u = urllib.parse.urlparse(fake.url)
    ctx = ssl.create_default_context(cafile=os.path.join(fake.state_dir, "ca.crt"))
    s = ctx.wrap_socket(socket.create_connection((u.hostname, u.port)),
                        server_hostname=u.hostname)
    path = path or "/api/v1/namespaces/vault/pods/vault-0/exec?command=true&stdout=1"
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           "Authorization: Bearer %s\r\n" % (path, u.netloc, key, token_of(fake, token_user)))
    if protocols:
        req += "Sec-WebSocket-Protocol: %s\r\n" % protocols
    s.sendall((req + "\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return s, data


def test_protocol_order_and_first_frame(fake):
    s, data = handshake(fake, "v4.channel.k8s.io, v5.channel.k8s.io")
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    assert b"Sec-WebSocket-Protocol: v4.channel.k8s.io" in head
    while len(rest) < 3:
        rest += s.recv(4096)
    assert rest[:3] == b"\x82\x01\x01"  # the one empty initial frame on stdout
    s.close()


def test_bodyless_403_on_v4_server(tmp_path):
    with FakeCluster(tmp_path / "v4", "--max-protocol", "v4") as f:
        s, data = handshake(f, "v5.channel.k8s.io")
        assert data == b"HTTP/1.1 403 Forbidden\r\n\r\n"
        s.close()
        s, data = handshake(f, "v5.channel.k8s.io, v4.channel.k8s.io")
        assert b"Sec-WebSocket-Protocol: v4.channel.k8s.io" in data
        s.close()


def test_rbac_403_on_exec_has_a_body(fake):
    s, data = handshake(fake, "v5.channel.k8s.io", token_user="limited")
    assert data.startswith(b"HTTP/1.1 403")
    body = data.split(b"\r\n\r\n", 1)[1]
    while not body.endswith(b"}"):
        more = s.recv(4096)
        if not more:
            break
        body += more
    st = json.loads(body)
    assert st["reason"] == "Forbidden"
    assert st["message"] == ('pods "vault-0" is forbidden: User "limited" cannot get resource '
                             '"pods/exec" in API group "" in the namespace "vault"')


def test_delete_pod_comes_back(fake):
    before = json.loads(fake.kubectl("get", "pod", "vault-2", "-n", "vault", "-o", "json").stdout)
    r = fake.kubectl("delete", "pod", "vault-2", "-n", "vault")
    assert r.returncode == 0, r.stderr
    after = json.loads(fake.kubectl("get", "pod", "vault-2", "-n", "vault", "-o", "json").stdout)
    assert after["metadata"]["uid"] != before["metadata"]["uid"]


# --- what doctor reads: services, endpoints, EndpointSlices, PVCs, nodes, PDBs ---------------

@pytest.mark.parametrize("version", ["1.33", "1.30"])
def test_kubectl_get_what_doctor_reads(fake, version):
    r = fake.kubectl("get", "svc,endpoints,endpointslices,pvc,nodes,pdb", "-n", "vault", "-o",
                     "name", version=version)
    assert r.returncode == 0, r.stderr
    names = r.stdout.split()
    for n in ["service/vault", "service/vault-internal", "service/vault-active",
              "service/vault-standby", "endpoints/vault-internal", "endpoints/vault-active",
              "persistentvolumeclaim/data-vault-0", "persistentvolumeclaim/data-vault-2",
              "node/node-0", "node/node-2", "poddisruptionbudget.policy/vault"]:
        assert n in names
    assert sum(1 for n in names if n.startswith("endpointslice.discovery.k8s.io/")) == 4
    # Endpoints are deprecated in 1.33: the API server says so in a Warning header, which
    # kubectl prints (docs/kubernetes.md §2.1).
    r = fake.kubectl("get", "endpoints", "vault-internal", "-n", "vault", version=version)
    assert r.stderr == ("Warning: v1 Endpoints is deprecated in v1.33+; use "
                        "discovery.k8s.io/v1 EndpointSlice\n")


def test_services_and_endpoints_follow_the_chart_and_readiness(tmp_path):
    with FakeCluster(tmp_path / "f") as f:  # not initialized: every pod sealed, not Ready
        svc = json.loads(f.kubectl("get", "svc", "-n", "vault", "-o", "json").stdout)
        by = {s["metadata"]["name"]: s["spec"] for s in svc["items"]}
        assert by["vault-internal"]["clusterIP"] == "None"
        assert by["vault-internal"]["publishNotReadyAddresses"] is True
        # the runbook's values: client services do not publish not-ready pods
        assert "publishNotReadyAddresses" not in by["vault"]
        assert by["vault-active"]["selector"]["vault-active"] == "true"
        assert by["vault-standby"]["selector"]["vault-active"] == "false"
        ep = json.loads(f.kubectl("get", "endpoints", "vault-internal", "-n", "vault", "-o",
                                  "json").stdout)
        assert sorted(a["hostname"] for a in ep["subsets"][0]["addresses"]) == \
            ["vault-0", "vault-1", "vault-2"]
        ep = json.loads(f.kubectl("get", "endpoints", "vault", "-n", "vault", "-o",
                                  "json").stdout)
        assert "addresses" not in ep["subsets"][0]
        assert len(ep["subsets"][0]["notReadyAddresses"]) == 3
        r = f.kubectl("get", "endpointslices", "-n", "vault", "-l",
                      "kubernetes.io/service-name=vault-internal", "-o", "json")
        sl = json.loads(r.stdout)["items"]
        assert len(sl) == 1
        # publishNotReadyAddresses: ready is forced true, serving tells the truth
        assert [(e["targetRef"]["name"], e["conditions"]["ready"], e["conditions"]["serving"])
                for e in sl[0]["endpoints"]] == [("vault-0", True, False),
                                                 ("vault-1", True, False),
                                                 ("vault-2", True, False)]
        assert sl[0]["endpoints"][0]["zone"] == "zone-a"
        # a selector that selects nothing empties the endpoints (a test switch)
        f.control("patch", {"namespace": "vault", "kind": "Service", "name": "vault-internal",
                            "patch": {"spec": {"selector": {"component": "nope"}}}})
        ep = json.loads(f.kubectl("get", "endpoints", "vault-internal", "-n", "vault", "-o",
                                  "json").stdout)
        assert ep["subsets"] == []
        f.control("patch", {"namespace": "vault", "kind": "Service", "name": "vault-internal",
                            "patch": None})
        r = f.kubectl("get", "svc", "vault-internal", "-n", "vault")
        assert r.stderr == 'Error from server (NotFound): services "vault-internal" not found\n'


def test_pvcs_nodes_and_pdb(fake):
    pvc = json.loads(fake.kubectl("get", "pvc", "data-vault-1", "-n", "vault", "-o",
                                  "json").stdout)
    assert pvc["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                             "capacity": {"storage": "10Gi"}}
    assert pvc["metadata"]["labels"] == {"app.kubernetes.io/name": "vault",
                                         "app.kubernetes.io/instance": "vault",
                                         "component": "server"}
    nodes = json.loads(fake.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert [(n["metadata"]["name"], n["metadata"]["labels"]["topology.kubernetes.io/zone"])
            for n in nodes] == [("node-0", "zone-a"), ("node-1", "zone-b"), ("node-2", "zone-c")]
    pdb = json.loads(fake.kubectl("get", "pdb", "vault", "-n", "vault", "-o", "json").stdout)
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {
        "app.kubernetes.io/name": "vault", "app.kubernetes.io/instance": "vault",
        "component": "server"}}}
    r = fake.kubectl("--context", "fake-limited", "get", "nodes")
    assert r.returncode == 1
    assert ('nodes is forbidden: User "limited" cannot list resource "nodes" in API group "" at '
            'the cluster scope') in r.stderr
    r = fake.kubectl("--context", "fake-limited", "get", "pdb", "-n", "vault")
    assert ('poddisruptionbudgets.policy is forbidden: User "limited" cannot list resource '
            '"poddisruptionbudgets" in API group "policy" in the namespace "vault"') in r.stderr


def test_pod_files_dns_and_df(tmp_path):
    with FakeCluster(tmp_path / "f", "--tls", "--vault-opt", "preset=ha") as f:
        script = ("cat /vault/config/extraconfig-from-values.hcl; df -Pk /vault/data; "
                  "nslookup vault-2.vault-internal; getent hosts vault-0.vault-internal; "
                  "cat /vault/userconfig/vault-ha-tls/vault.crt")
        r = f.kubectl("exec", "vault-1", "-n", "vault", "--", "sh", "-c", script)
        assert r.returncode == 0, r.stderr
        assert 'tls_cert_file = "/vault/userconfig/vault-ha-tls/vault.crt"' in r.stdout
        assert "/dev/sdb                10485760  314572  10171188       3% /vault/data\n" \
            in r.stdout
        assert "Name:\tvault-2.vault-internal\nAddress: 10.244.3.19\n" in r.stdout
        assert "10.244.1.17     vault-0.vault-internal\n" in r.stdout
        assert "-----BEGIN CERTIFICATE-----" in r.stdout
        f.control("disk", {"namespace": "vault", "pod": "vault-1", "used_percent": 96})
        f.control("dns", {"namespace": "vault", "pod": "vault-2", "mode": "nxdomain"})
        f.control("tools", {"namespace": "vault", "pod": "vault-0", "missing": ["nslookup"]})
        r = f.kubectl("exec", "vault-1", "-n", "vault", "--", "sh", "-c",
                      "df -Pk /vault/data; nslookup vault-2.vault-internal")
        assert "/dev/sdb                10485760 10066329    419431      96% /vault/data\n" \
            in r.stdout
        assert "** server can't find vault-2.vault-internal: NXDOMAIN" in r.stdout
        assert r.returncode == 1
        r = f.kubectl("exec", "vault-0", "-n", "vault", "--", "sh", "-c",
                      "nslookup vault-1.vault-internal")
        assert r.returncode == 127 and "nslookup: not found" in r.stderr
def test_hostile_peers_as_a_real_kubectl_sees_them(tmp_path):
    """The hostile switches (README "Hostile peers") break what they say and nothing else: a
    real kubectl reads the escape-laden objects as valid JSON, its exec fails against the
    broken protocols, and works again once the switch is off."""
    with FakeCluster(tmp_path / "fake") as f:
        f.control("settings", {"hostile": "escape"})
        r = f.kubectl("get", "pods", "-n", "vault", "-o", "json")
        assert r.returncode == 0, r.stderr
        nodes = [p["spec"]["nodeName"] for p in json.loads(r.stdout)["items"]]
        assert nodes == ["node-%d\x1b]52;c;aGFja2Vk\x07\x1b[2J\x1b[1;31m" % i for i in range(3)]
        r = f.kubectl("exec", "-n", "vault", "vault-0", "--", "no-such-program")
        assert r.returncode != 0 and "\x1b]52;c;aGFja2Vk" in r.stderr
        # (Not oversized-status: kubectl reads an endless error stream for ever.)
        for mode in ("garbage-after-101", "truncated-frame", "status-not-json", "close-code:1005"):
            f.control("settings", {"hostile": mode})
            r = f.kubectl("exec", "-n", "vault", "vault-0", "--", "true", timeout=60)
            assert r.returncode != 0, (mode, r.stdout, r.stderr)
        f.control("settings", {"hostile": "garbage-after-101", "hostile_match": "cat"})
        r = f.kubectl("exec", "-n", "vault", "vault-0", "--", "echo", "fine")
        assert (r.returncode, r.stdout) == (0, "fine\n"), r.stderr
        f.control("settings", {"hostile": ""})
        r = f.kubectl("exec", "-n", "vault", "vault-0", "--", "true")
        assert r.returncode == 0, r.stderr


LEASE_YAML = """apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: vault-vault-ha-lock, namespace: vault%s}
spec: {holderIdentity: "%s", leaseDurationSeconds: 30,
       acquireTime: "2026-05-01T10:00:00.000000Z", renewTime: "2026-05-01T10:00:10.000000Z"}
"""


def test_leases_with_kubectl(fake):
    """The lock's Lease as the real kubectl sees it: create, get, the 409s of a second
    create and of a stale resourceVersion, an update on the current one, delete, RBAC."""
    r = fake.kubectl("create", "--validate=false", "-f", "-", input=LEASE_YAML % ("", "a"))
    assert (r.returncode, r.stdout) == (0, "lease.coordination.k8s.io/vault-vault-ha-lock "
                                           "created\n"), r.stderr
    r = fake.kubectl("get", "lease", "-n", "vault", "-o", "custom-columns=NAME:.metadata.name,"
                     "HOLDER:.spec.holderIdentity,DURATION:.spec.leaseDurationSeconds")
    assert r.stdout.split() == ["NAME", "HOLDER", "DURATION", "vault-vault-ha-lock", "a", "30"]
    lease = json.loads(fake.kubectl("get", "lease", "vault-vault-ha-lock", "-n", "vault", "-o",
                                    "json").stdout)
    rv = lease["metadata"]["resourceVersion"]
    assert lease["spec"]["renewTime"] == "2026-05-01T10:00:10.000000Z"
    r = fake.kubectl("create", "--validate=false", "-f", "-", input=LEASE_YAML % ("", "b"))
    assert r.returncode == 1
    assert r.stderr == ('Error from server (AlreadyExists): error when creating "STDIN": '
                        'leases.coordination.k8s.io "vault-vault-ha-lock" already exists\n')
    stale = LEASE_YAML % (", resourceVersion: '%d'" % (int(rv) - 1), "b")
    r = fake.kubectl("replace", "--validate=false", "-f", "-", input=stale)
    assert r.returncode == 1
    assert r.stderr == ('Error from server (Conflict): error when replacing "STDIN": Operation '
                        'cannot be fulfilled on leases.coordination.k8s.io "vault-vault-ha-lock": '
                        'the object has been modified; please apply your changes to the latest '
                        'version and try again\n')
    r = fake.kubectl("replace", "--validate=false", "-f", "-",
                     input=LEASE_YAML % (", resourceVersion: '%s'" % rv, "b"))
    assert r.returncode == 0, r.stderr
    lease = json.loads(fake.kubectl("get", "lease", "vault-vault-ha-lock", "-n", "vault", "-o",
                                    "json").stdout)
    assert lease["spec"]["holderIdentity"] == "b" and int(lease["metadata"]["resourceVersion"]) > \
        int(rv)
    r = fake.kubectl("--context", "fake-limited", "get", "lease", "-n", "vault")
    assert r.returncode == 1
    assert ('leases.coordination.k8s.io is forbidden: User "limited" cannot list resource '
            '"leases" in API group "coordination.k8s.io" in the namespace "vault"') in r.stderr
    r = fake.kubectl("delete", "lease", "vault-vault-ha-lock", "-n", "vault")
    assert (r.returncode, r.stdout) == (0, 'lease.coordination.k8s.io "vault-vault-ha-lock" '
                                           'deleted\n'), r.stderr
    r = fake.kubectl("get", "lease", "vault-vault-ha-lock", "-n", "vault")
    assert r.stderr == ('Error from server (NotFound): leases.coordination.k8s.io '
                        '"vault-vault-ha-lock" not found\n')


def test_lease_delete_precondition_and_eviction_with_python_client(tmp_path):
    """Debian's python3-kubernetes: a delete whose resourceVersion precondition is stale is a
    409; the eviction subresource answers 201, and 429 with the budget's cause once the
    PodDisruptionBudget allows no more disruption."""
    from kubernetes import client, config
    with FakeCluster(tmp_path / "f", "--vault-opt", "preset=ha") as fake:
        lease_and_eviction(fake, client, config)


def lease_and_eviction(fake, client, config):
    api_client = config.new_client_from_config(config_file=fake.kubeconfig)
    coord = client.CoordinationV1Api(api_client)
    core = client.CoreV1Api(api_client)
    body = client.V1Lease(metadata=client.V1ObjectMeta(name="l"),
                          spec=client.V1LeaseSpec(holder_identity="x",
                                                   lease_duration_seconds=30))
    created = coord.create_namespaced_lease("vault", body)
    rv = created.metadata.resource_version
    with pytest.raises(client.ApiException) as e:
        coord.delete_namespaced_lease("l", "vault", body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(resource_version=str(int(rv) + 5))))
    assert e.value.status == 409
    assert json.loads(e.value.body)["message"] == (
        'Operation cannot be fulfilled on leases.coordination.k8s.io "l": StorageError: invalid '
        'object, Code: 4, Key: /registry/leases/vault/l, ResourceVersion: 0, AdditionalErrorMsg: '
        'Precondition failed: ResourceVersion in precondition: %d, ResourceVersion in object '
        'meta: %s' % (int(rv) + 5, rv))
    coord.delete_namespaced_lease("l", "vault", body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=rv)))
    assert coord.list_namespaced_lease("vault").items == []
    # Eviction: the chart's budget (maxUnavailable 1 of 3) lets one pod go; with vault-2
    # restarting (not ready), it refuses vault-1.
    policy = client.PolicyV1Api(api_client)
    deadline = time.time() + 60
    while policy.read_namespaced_pod_disruption_budget("vault", "vault").status \
            .disruptions_allowed != 1 and time.time() < deadline:
        time.sleep(0.2)
    ev = client.V1Eviction(metadata=client.V1ObjectMeta(name="vault-2", namespace="vault"))
    core.create_namespaced_pod_eviction("vault-2", "vault", ev)
    ev = client.V1Eviction(metadata=client.V1ObjectMeta(name="vault-1", namespace="vault"))
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_pod_eviction("vault-1", "vault", ev)
    assert e.value.status == 429
    status = json.loads(e.value.body)
    assert status["reason"] == "TooManyRequests"
    assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status["details"]["causes"] == [{
        "reason": "DisruptionBudget",
        "message": "The disruption budget vault needs 2 healthy pods and has 2 currently"}]
    evictions = [e["status"] for e in fake.audit_log() if e["uri"].endswith("/eviction")]
    assert evictions == [201, 429]
