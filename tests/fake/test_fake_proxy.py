"""pods/proxy, SelfSubjectAccessReview and several fakes behind one kubeconfig, checked with the
real kubectl and raw HTTP (docs/kubernetes.md §8, §2.2)."""
import json
import os
import ssl
import time
import urllib.error
import urllib.request

import pytest
import yaml

from harness import FakeCluster, Unreachable, merged_kubeconfig

PROXY = "/api/v1/namespaces/vault/pods/%s/proxy/v1/sys/%s"


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    with FakeCluster(tmp_path_factory.mktemp("fake"), "--vault-opt", "preset=ha") as f:
        yield f


def raw_get(fake, path, headers=None, user="token-user", method="GET"):
    """GET (or method) on the fake's API with a bearer token and no redirect following:
    (status, headers, body)."""
    kc = yaml.safe_load(open(fake.kubeconfig))
    token = [u for u in kc["users"] if u["name"] == user][0]["user"]["token"]
    ctx = ssl.create_default_context(cafile=os.path.join(fake.state_dir, "ca.crt"))

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), NoRedirect)
    req = urllib.request.Request(fake.url + path, method=method,
                                 headers=dict(headers or {}, Authorization="Bearer " + token))
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def root_token(fake):
    path = os.path.join(fake.state_dir, "vault", "vault", "vault", "vault-init.json")
    return json.load(open(path))["root_token"]


def test_kubectl_reads_seal_status_and_leader_through_the_proxy(fake):
    before = len(fake.exec_log())
    r = fake.kubectl("get", "--raw", PROXY % ("vault-0:8200", "seal-status"))
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert (st["initialized"], st["sealed"], st["t"], st["n"]) == (True, False, 3, 5)
    r = fake.kubectl("get", "--raw", PROXY % ("vault-0:8200", "leader"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["is_self"] is True
    assert len(fake.exec_log()) == before  # no process in the pod
    assert fake.proxy_log()[-1] == {"namespace": "vault", "pod": "vault-0", "method": "GET",
                                    "path": "/v1/sys/leader", "status": 200}


def test_errors_have_the_real_servers_bodies(fake):
    cases = [("vault-9:8200", 'Error from server (NotFound): pods "vault-9" not found'),
             ("a:b:c:d", 'Error from server (BadRequest): invalid pod request "a:b:c:d"'),
             ("vault-0:8201", "Error from server (ServiceUnavailable): error trying to reach "
                              "service: dial tcp 10.244.1.17:8201: connect: connection refused"),
             ("https:vault-0:8200", "Error from server (ServiceUnavailable): error trying to "
                                    "reach service: tls: first record does not look like a TLS "
                                    "handshake")]
    for pid, message in cases:
        r = fake.kubectl("get", "--raw", PROXY % (pid, "seal-status"))
        assert (r.returncode, r.stderr.strip()) == (1, message)


def test_pod_without_ip_and_pod_whose_container_is_down(tmp_path):
    with FakeCluster(tmp_path / "f", "--pod-state", "vault-1=Pending",
                     "--pod-state", "vault-2=CrashLoopBackOff") as f:
        r = f.kubectl("get", "--raw", PROXY % ("vault-1:8200", "seal-status"))
        assert r.stderr.strip() == "Error from server (BadRequest): address not allowed"
        r = f.kubectl("get", "--raw", PROXY % ("vault-2:8200", "seal-status"))
        assert r.stderr.strip() == ("Error from server (ServiceUnavailable): error trying to "
                                    "reach service: dial tcp 10.244.3.19:8200: connect: "
                                    "connection refused")
        status, _, body = raw_get(f, PROXY % ("vault-2:8200", "seal-status"))
        doc = json.loads(body)
        assert (status, doc["kind"], doc["reason"], doc["code"]) == \
            (503, "Status", "ServiceUnavailable", 503)


def test_rbac_per_verb_and_self_subject_access_review(fake):
    fake.control("rbac", {"user": "limited", "rules": [
        {"verbs": ["get"], "resources": ["pods/proxy"], "namespace": "vault"}]})
    try:
        # ("pods/proxy" would be the pod named proxy to kubectl: --subresource says it.)
        can_i = ("auth", "can-i", "--subresource", "proxy")
        r = fake.kubectl(*can_i, "get", "pods", "--context", "fake-limited")
        assert (r.returncode, r.stdout.strip()) == (0, "yes")
        r = fake.kubectl(*can_i, "create", "pods", "--context", "fake-limited")
        assert (r.returncode, r.stdout.strip()) == (1, "no")
        r = fake.kubectl(*can_i, "get", "pods", "--context", "fake-denied")
        assert (r.returncode, r.stdout.strip()) == (1, "no")
        r = fake.kubectl("get", "--raw", PROXY % ("vault-0:8200", "seal-status"),
                         "--context", "fake-limited")
        assert r.returncode == 0, r.stderr
        # PUT is "update" on pods/proxy: not granted.
        r = fake.kubectl("replace", "--raw", PROXY % ("vault-0:8200", "step-down"), "-f", "-",
                         "--context", "fake-limited", input="{}")
        assert r.stderr.strip() == (
            'Error from server (Forbidden): pods "vault-0:8200" is forbidden: User "limited" '
            'cannot update resource "pods/proxy" in API group "" in the namespace "vault"')
        # OPTIONS is proxied, and its verb is the method lower-cased (requestinfo.go maps
        # only GET/HEAD, POST, PUT, PATCH and DELETE): "get" does not grant it.
        status, _, body = raw_get(fake, PROXY % ("vault-0:8200", "seal-status"), user="limited",
                                  method="OPTIONS")
        assert (status, json.loads(body)["message"]) == (403, (
            'pods "vault-0:8200" is forbidden: User "limited" cannot options resource '
            '"pods/proxy" in API group "" in the namespace "vault"'))
        fake.control("rbac", {"user": "limited", "rules": [
            {"verbs": ["options"], "resources": ["pods/proxy"], "namespace": "vault"}]})
        status, _, _ = raw_get(fake, PROXY % ("vault-0:8200", "seal-status"), user="limited",
                               method="OPTIONS")
        assert status != 403
        r = fake.kubectl("get", "--raw", PROXY % ("vault-0:8200", "seal-status"),
                         "--context", "fake-denied")
        assert r.stderr.strip() == (
            'Error from server (Forbidden): pods "vault-0:8200" is forbidden: User "denied" '
            'cannot get resource "pods/proxy" in API group "" in the namespace "vault"')
    finally:
        fake.control("rbac", {"user": "limited", "rules": [
            {"verbs": ["get", "list"], "resources": ["statefulsets"], "namespace": "vault"}]})


def test_headers_authorization_dropped_vault_token_forwarded(fake):
    # With X-Vault-Token the raft configuration answers; the API server's own Authorization
    # never reaches the pod (Vault would take "Bearer <k8s token>" as a Vault token).
    status, _, body = raw_get(fake, PROXY % ("vault-0:8200", "storage/raft/configuration"))
    assert status == 403 and json.loads(body) == {"errors": ["permission denied"]}
    status, _, body = raw_get(fake, PROXY % ("vault-0:8200", "storage/raft/configuration"),
                              {"X-Vault-Token": root_token(fake)})
    assert status == 200
    assert len(json.loads(body)["data"]["config"]["servers"]) == 3


def test_standby_redirect_is_passed_through_not_followed(fake):
    status, headers, _ = raw_get(fake, PROXY % ("vault-1:8200", "storage/raft/snapshot"),
                                 {"X-Vault-Token": root_token(fake)})
    # The active pod's IP, unreachable from outside the cluster: not rewritten, not followed.
    assert (status, headers["Location"]) == (307, "http://10.244.1.17:8200/v1/sys/storage/raft/"
                                                  "snapshot")


def test_tls_listener_needs_the_https_scheme(tmp_path):
    with FakeCluster(tmp_path / "f", "--tls") as f:
        r = f.kubectl("get", "--raw", PROXY % ("https:vault-0:8200", "seal-status"))
        assert r.returncode == 0 and json.loads(r.stdout)["sealed"] is True
        status, _, body = raw_get(f, PROXY % ("vault-0:8200", "seal-status"))
        assert (status, body) == (400, b"Client sent an HTTP request to an HTTPS server.\n")


def test_several_fakes_behind_one_kubeconfig(tmp_path, fake):
    with FakeCluster(tmp_path / "b", "--namespace", "vault-b") as b, Unreachable() as dead:
        kc = merged_kubeconfig(tmp_path / "kubeconfig",
                               [("prod", fake), ("stage", b), ("dr", dead)])
        env = {"KUBECONFIG": kc}
        r = fake.kubectl("config", "get-contexts", "-o", "name", env=env)
        assert sorted(r.stdout.split()) == ["dr", "prod", "stage"]
        r = fake.kubectl("get", "sts", "-o", "name", "--context", "stage", env=env)
        assert (r.returncode, r.stdout.strip()) == (0, "statefulset.apps/vault")
        r = fake.kubectl("get", "pods", "-o", "name", "--context", "prod", env=env)
        assert r.stdout.split() == ["pod/vault-0", "pod/vault-1", "pod/vault-2"]
        t = time.monotonic()
        r = fake.kubectl("get", "pods", "--context", "dr", "--request-timeout", "1s", env=env)
        assert r.returncode == 1 and time.monotonic() - t < 15
