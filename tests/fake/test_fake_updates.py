"""StatefulSet updates in the fake, checked with the real kubectl: PATCH in its three
types (strategic merge, merge, JSON patch) and the API server's answers to bad ones, the
controller observing a template change a moment later (observedGeneration, updateRevision),
OnDelete (pods keep their template until deleted, then come back from the new revision, and
`vault status` reports the image's version), a deleted pod that terminates and is created
again over --restart-seconds, the raft catch-up of a restarted node, and the leader history
(docs/kubernetes.md §7 "StatefulSet revisions")."""
import json
import os
import ssl
import time
import urllib.request

import pytest

from harness import FakeCluster

IMAGE_PATCH = ('{"spec":{"template":{"spec":{"containers":[{"name":"vault",'
               '"image":"hashicorp/vault:1.21.3"}]}}}}')


def api(fake, method, path, body=None, ctype=None):
    """A raw request as the admin user (client certificate), to see status codes and timing
    that kubectl hides."""
    import base64
    import tempfile
    import yaml
    kc = yaml.safe_load(open(fake.kubeconfig))
    user = [u for u in kc["users"] if u["name"] == "admin"][0]["user"]
    ctx = ssl.create_default_context(cafile=fake.state_dir + "/ca.crt")
    with tempfile.NamedTemporaryFile("wb", delete=False) as c, \
            tempfile.NamedTemporaryFile("wb", delete=False) as k:
        c.write(base64.b64decode(user["client-certificate-data"]))
        k.write(base64.b64decode(user["client-key-data"]))
    ctx.load_cert_chain(c.name, k.name)
    os.unlink(c.name)
    os.unlink(k.name)
    req = urllib.request.Request(fake.url + path, method=method,
                                 data=body.encode() if body is not None else None,
                                 headers={"Content-Type": ctype} if ctype else {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def sts(fake):
    r = fake.kubectl("get", "sts", "vault", "-n", "vault", "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def pods(fake):
    r = fake.kubectl("get", "pods", "-n", "vault", "-o", "json")
    assert r.returncode == 0, r.stderr
    return {p["metadata"]["name"]: p for p in json.loads(r.stdout)["items"]}


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s" % what)


@pytest.fixture
def ha(tmp_path):
    with FakeCluster(tmp_path / "fake", "--vault-opt", "preset=ha",
                     "--vault-opt", "election_seconds=0.3-0.6") as f:
        yield f


def test_patch_types_and_revisions(ha):
    before = sts(ha)
    assert before["status"]["updateRevision"] == "vault-5d8c7b9f6"
    assert before["metadata"]["generation"] == 1
    # Strategic merge patch: containers merge by name, the other fields stay.
    r = ha.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p", IMAGE_PATCH)
    assert (r.returncode, r.stdout) == (0, "statefulset.apps/vault patched\n"), r.stderr
    after = wait_for(lambda: (lambda s: s if s["status"]["observedGeneration"] == 2 else None)(
        sts(ha)), what="the controller to observe generation 2")
    c = after["spec"]["template"]["spec"]["containers"]
    assert [x["name"] for x in c] == ["vault"] and c[0]["image"] == "hashicorp/vault:1.21.3"
    assert c[0]["env"] == before["spec"]["template"]["spec"]["containers"][0]["env"]
    rev = after["status"]["updateRevision"]
    assert rev.startswith("vault-") and rev != "vault-5d8c7b9f6"
    assert after["status"]["currentRevision"] == "vault-5d8c7b9f6"  # never promoted (OnDelete)
    assert after["status"]["updatedReplicas"] == 0
    # The same template again: no new revision, no new generation.
    r = ha.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p", IMAGE_PATCH)
    assert r.returncode == 0, r.stderr
    assert sts(ha)["metadata"]["generation"] == 2
    # JSON patch: a failed test op applies nothing; the API server does not say which op.
    bad = ('[{"op":"test","path":"/spec/template/spec/containers/0/image","value":"nope"},'
           '{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"x"}]')
    r = ha.kubectl("patch", "statefulset", "vault", "-n", "vault", "--type", "json", "-p", bad)
    assert r.returncode == 1
    assert "The request is invalid: the server rejected our request due to an error in our " \
           "request" in r.stderr
    good = ('[{"op":"test","path":"/spec/template/spec/containers/0/image",'
            '"value":"hashicorp/vault:1.21.3"},{"op":"replace",'
            '"path":"/spec/template/spec/containers/0/image","value":"hashicorp/vault:1.21.2"}]')
    r = ha.kubectl("patch", "statefulset", "vault", "-n", "vault", "--type", "json", "-p", good)
    assert r.returncode == 0, r.stderr
    # Back to the first template: the controller reuses its revision.
    wait_for(lambda: sts(ha)["status"]["updateRevision"] == "vault-5d8c7b9f6",
             what="the first revision again")
    # Merge patch on the strategy, and the validation of StatefulSet updates.
    r = ha.kubectl("patch", "statefulset", "vault", "-n", "vault", "--type", "merge", "-p",
                   '{"spec":{"updateStrategy":{"type":"RollingUpdate"}}}')
    assert r.returncode == 0, r.stderr
    assert sts(ha)["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                                "rollingUpdate": {"partition": 0}}
    r = ha.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p",
                   '{"spec":{"updateStrategy":{"type":"OnDelete"}}}')
    assert r.returncode == 1
    assert "spec.updateStrategy.rollingUpdate: Invalid value" in r.stderr
    assert "only allowed for updateStrategy 'RollingUpdate'" in r.stderr
    r = ha.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p",
                   '{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}')
    assert r.returncode == 0, r.stderr
    r = ha.kubectl("patch", "statefulset", "vault", "-n", "vault", "--type", "merge", "-p",
                   '{"spec":{"serviceName":"elsewhere"}}')
    assert r.returncode == 1
    assert ('The StatefulSet "vault" is invalid: spec: Forbidden: updates to statefulset spec '
            "for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
            ) in r.stderr
    # What kubectl does not show: the status codes, and the controller's delay.
    code, body = api(ha, "PATCH", "/apis/apps/v1/namespaces/vault/statefulsets/vault",
                     IMAGE_PATCH, "application/json")
    assert code == 415 and body["reason"] == "UnsupportedMediaType"
    assert body["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json, application/apply-patch+yaml")
    # The controller observes asynchronously: let it catch up with the patches above first.
    wait_for(lambda: (lambda s: s["status"]["observedGeneration"] == s["metadata"]["generation"])(
        sts(ha)), what="the controller to observe every patch so far")
    code, body = api(ha, "PATCH", "/apis/apps/v1/namespaces/vault/statefulsets/vault",
                     '[{"op":"replace","path":"/spec/template/spec/containers/0/image",'
                     '"value":"hashicorp/vault:1.22.0"}]', "application/json-patch+json")
    assert code == 200
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == "hashicorp/vault:1.22.0"
    gen = body["metadata"]["generation"]
    assert body["status"]["observedGeneration"] == gen - 1  # not observed yet
    assert body["status"]["updateRevision"] == "vault-5d8c7b9f6"
    code, body = api(ha, "PATCH", "/apis/apps/v1/namespaces/vault/statefulsets/nope",
                     IMAGE_PATCH, "application/strategic-merge-patch+json")
    assert code == 404 and body["message"] == 'statefulsets.apps "nope" not found'


def test_patch_needs_the_patch_verb(ha):
    ha.control("rbac", {"user": "token-user", "rules": [
        {"verbs": ["get", "list"], "resources": ["statefulsets"]}]})
    r = ha.kubectl("--context", "fake-token", "patch", "statefulset", "vault", "-n", "vault", "-p",
                   IMAGE_PATCH)
    assert r.returncode == 1
    assert ('statefulsets.apps "vault" is forbidden: User "token-user" cannot patch resource '
            '"statefulsets" in API group "apps" in the namespace "vault"') in r.stderr


def test_on_delete_restart_and_catch_up(tmp_path):
    with FakeCluster(tmp_path / "fake", "--vault-opt", "preset=ha", "--restart-seconds", "10",
                     "--vault-opt", "catchup_seconds=10") as f:
        # (10 s of catch-up: a kubectl exec takes seconds on a busy machine, and the first
        # look after the unseal must still find the follower behind.)
        keys = json.load(open(f.state_dir + "/vault/vault/vault/vault-init.json"))
        r = f.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p", IMAGE_PATCH)
        assert r.returncode == 0, r.stderr
        rev = wait_for(lambda: (lambda s: s["status"]["updateRevision"]
                                if s["status"]["observedGeneration"] == 2 else None)(sts(f)))
        # OnDelete: nothing changes until a pod is deleted.
        before = pods(f)
        for p in before.values():
            assert p["spec"]["containers"][0]["image"] == "hashicorp/vault:1.21.2"
            assert p["metadata"]["labels"]["controller-revision-hash"] == "vault-5d8c7b9f6"
        code, _ = api(f, "DELETE", "/api/v1/namespaces/vault/pods/vault-2")
        assert code == 200
        # First the old pod terminates (same uid, deletionTimestamp, old revision) ...
        code, old = api(f, "GET", "/api/v1/namespaces/vault/pods/vault-2")
        assert old["metadata"]["uid"] == before["vault-2"]["metadata"]["uid"]
        assert "deletionTimestamp" in old["metadata"]
        assert old["metadata"]["labels"]["controller-revision-hash"] == "vault-5d8c7b9f6"
        # ... then the new one is created from the update revision, not running yet ...
        new = wait_for(lambda: (lambda p: p if p["metadata"]["uid"] != old["metadata"]["uid"]
                                else None)(api(f, "GET", "/api/v1/namespaces/vault/pods/vault-2")[1]),
                       what="the new pod")
        assert new["status"]["phase"] == "Pending"
        assert new["status"]["containerStatuses"][0]["state"] == {
            "waiting": {"reason": "ContainerCreating"}}
        assert new["metadata"]["labels"]["controller-revision-hash"] == rev
        assert new["spec"]["containers"][0]["image"] == "hashicorp/vault:1.21.3"
        # ... then it runs: sealed, on the new version.
        wait_for(lambda: pods(f)["vault-2"]["status"]["phase"] == "Running", what="Running")
        st = json.loads(f.kubectl("exec", "vault-2", "-n", "vault", "--", "vault", "status",
                                  "-format=json").stdout)
        assert st["sealed"] is True and st["version"] == "1.21.3"
        assert pods(f)["vault-2"]["metadata"]["labels"]["vault-version"] == "1.21.3"
        assert pods(f)["vault-1"]["spec"]["containers"][0]["image"] == "hashicorp/vault:1.21.2"
        assert sts(f)["status"]["updatedReplicas"] == 1
        # Unsealed, it replays its log: applied index behind the leader's for catchup_seconds.
        for k in keys["unseal_keys_b64"][:3]:
            f.kubectl("exec", "vault-2", "-n", "vault", "--", "vault", "operator", "unseal", k)
        st = json.loads(f.kubectl("exec", "vault-2", "-n", "vault", "--", "vault", "status",
                                  "-format=json").stdout)
        assert st["sealed"] is False
        assert st["raft_applied_index"] < st["raft_committed_index"]
        wait_for(lambda: (lambda s: s["raft_applied_index"] == s["raft_committed_index"])(
            json.loads(f.kubectl("exec", "vault-2", "-n", "vault", "--", "vault", "status",
                                 "-format=json").stdout)), 60, what="the catch-up")


def test_leader_history(ha):
    first = ha.control("leaders", {"namespace": "vault"})["leaders"]
    assert [x["pod"] for x in first] == ["vault-0"]
    ha.kubectl("delete", "pod", "vault-0", "-n", "vault")
    hist = wait_for(lambda: (lambda h: h if len(h) == 2 else None)(
        ha.control("leaders", {"namespace": "vault"})["leaders"]), what="an election")
    assert hist[1]["pod"] in ("vault-1", "vault-2") and hist[1]["term"] > hist[0]["term"]


def test_broken_image_and_slow_auto_unseal(tmp_path):
    with FakeCluster(tmp_path / "fake", "--vault-opt", "preset=ha", "--vault-opt",
                     "seal_type=transit", "--vault-opt", "auto_unseal_seconds=4") as f:
        f.control("broken-image", {"namespace": "vault", "image": "hashicorp/vault:9.9.9",
                                   "reason": "ImagePullBackOff"})
        r = f.kubectl("patch", "statefulset", "vault", "-n", "vault", "-p",
                      IMAGE_PATCH.replace("1.21.3", "9.9.9"))
        assert r.returncode == 0, r.stderr
        wait_for(lambda: sts(f)["status"]["observedGeneration"] == 2)
        f.kubectl("delete", "pod", "vault-2", "-n", "vault")
        p = pods(f)["vault-2"]
        assert p["status"]["phase"] == "Pending"
        assert p["status"]["containerStatuses"][0]["state"] == {"waiting": {
            "reason": "ImagePullBackOff",
            "message": 'Back-off pulling image "hashicorp/vault:9.9.9"'}}
        r = f.kubectl("exec", "vault-2", "-n", "vault", "--", "vault", "status")
        assert r.returncode != 0
        # The image is mended (pushed after all): the pod starts, and unseals itself 4 s after
        # its restart (transit seal).
        f.control("broken-image", {"namespace": "vault", "image": "hashicorp/vault:9.9.9",
                                   "reason": None})
        wait_for(lambda: pods(f)["vault-2"]["status"]["phase"] == "Running")
        wait_for(lambda: not json.loads(f.kubectl(
            "exec", "vault-2", "-n", "vault", "--", "vault", "status", "-format=json").stdout)[
            "sealed"], 15, what="the auto-unseal")
        # vault-1 restarts at once (no restart_seconds), sealed at first.
        f.kubectl("delete", "pod", "vault-1", "-n", "vault")
        f.control("broken-image", {"namespace": "vault", "image": "hashicorp/vault:9.9.9",
                                   "reason": None})
        st = json.loads(f.kubectl("exec", "vault-1", "-n", "vault", "--", "vault", "status",
                                  "-format=json").stdout)
        assert st["sealed"] is True and st["version"] == "9.9.9"
