"""status against the fake cluster: every authentication kind, the API's
errors (docs/kubernetes.md §2), discovery of the StatefulSet, the table, json
and yaml documents, and the verdict's exit codes."""
import json
import os
import re
import time

import pytest
import yaml

from conftest import bootstrapped, run_plugin

AGE = r"\d+s"


def test_fresh_cluster(fake):
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 3, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "StatefulSet vault/vault (release vault, hashicorp/vault:1.21.2): 0/3 ready"
    assert lines[2].split() == ["POD", "PHASE", "READY", "INITIALIZED", "SEALED", "ROLE", "RAFT",
                                "INDEX", "VERSION", "AGE", "RESTARTS", "NODE"]
    for i in range(3):
        assert re.fullmatch(r"vault-%d +Running +false +false +true +uninitialized +- +- +1\.21\.2"
                            r" +%s +0 +node-%d" % (i, AGE, i), lines[3 + i]), lines[3 + i]
    assert "Cluster: unavailable (3 voters, 0 unsealed voters, quorum 2, failure tolerance 0)" in r.stdout
    assert "  - Vault is not initialized" in r.stdout
    assert "Next:\n  kubectl vault-ha bootstrap --output vault-keys.json" in r.stdout
    assert r.stderr == ""


@pytest.mark.parametrize("context", ["fake", "fake-token", "fake-tokenfile", "fake-exec"])
def test_every_auth_kind(fake, context):
    r = run_plugin(["--context", context, "status", "-o", "json"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    assert [p["name"] for p in doc["pods"]] == ["vault-0", "vault-1", "vault-2"]
    users = {e["user"] for e in fake.audit_log()}
    expected = {"fake": "admin", "fake-token": "token-user", "fake-tokenfile": "tokenfile-user",
                "fake-exec": "exec-user"}[context]
    assert users == {expected}
    if context == "fake-exec":
        # One plugin run per process, cached for every request and exec of that run.
        with open(os.path.join(fake.state_dir, "plugin-runs")) as f:
            assert f.read().count("run") == 1


def test_json_and_yaml_documents(fake, tmp_path):
    keys = bootstrapped(fake, tmp_path)
    r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig,
                   env={"VAULT_TOKEN": keys["root_token"]})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["statefulset"] == {"name": "vault", "release": "vault", "flavor": "vault",
                                  "replicas": 3, "readyReplicas": 3,
                                  "image": "hashicorp/vault:1.21.2", "version": "1.21.2"}
    assert doc["verdict"]["state"] == "healthy"
    assert doc["verdict"]["exitCode"] == 0
    assert doc["verdict"]["problems"] == [] and doc["verdict"]["next"] == []
    assert doc["raft"]["voters"] == 3 and doc["raft"]["failureTolerance"] == 1
    assert sorted(p["pod"] for p in doc["raft"]["peers"]) == ["vault-0", "vault-1", "vault-2"]
    active = doc["verdict"]["active"]
    roles = {p["name"]: (p["vault"]["role"], p["vault"]["raft"]) for p in doc["pods"]}
    assert roles[active] == ("active", "leader")
    assert sorted(v for k, v in roles.items() if k != active) == [("standby", "follower")] * 2
    y = run_plugin(["status", "-o", "yaml"], kubeconfig=fake.kubeconfig,
                   env={"VAULT_TOKEN": keys["root_token"]})
    ydoc = yaml.safe_load(y.stdout)
    for p in ydoc["pods"]:
        p.pop("age")
    for p in doc["pods"]:
        p.pop("age")
    for d in (doc, ydoc):
        for p in d["pods"]:
            p["vault"].pop("committedIndex"), p["vault"].pop("appliedIndex")
    assert ydoc == doc


def test_wrong_ca(fake, tmp_path):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fake"))
    import base64
    from fakekube.certs import CA
    kc = yaml.safe_load(open(fake.kubeconfig))
    kc["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(CA("another-ca").pem).decode()
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(kc))
    r = run_plugin(["status"], kubeconfig=path)
    assert r.returncode == 1
    assert ("kubectl vault-ha: finding the Vault StatefulSet in namespace \"vault\": TLS: the API "
            "server's certificate at %s is not trusted by certificate-authority-data of cluster "
            "\"fake\" in %s" % (fake.url, path)) in r.stderr


def test_server_down(fake, tmp_path):
    kc = open(fake.kubeconfig).read()
    fake.stop()
    path = tmp_path / "kc"
    path.write_text(kc)
    r = run_plugin(["status"], kubeconfig=path)
    assert r.returncode == 1
    assert "cannot reach the API server at %s (context \"fake\")" % fake.url in r.stderr
    assert "is the cluster running and the server address in %s right?" % path in r.stderr


def test_unauthorized(fake):
    r = run_plugin(["--context", "fake-badtoken", "status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert ("the API server at %s rejected the credentials of user \"badtoken\" (context "
            "\"fake-badtoken\"): Unauthorized" % fake.url) in r.stderr


def test_forbidden_names_verb_and_resource(fake):
    r = run_plugin(["--context", "fake-limited", "status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert ("listing the pods of StatefulSet vault/vault: RBAC denies \"list\" on resource "
            "\"pods\" in namespace \"vault\": grant verb \"list\" on \"pods\" to this user (API "
            "server: pods is forbidden: User \"limited\" cannot list resource \"pods\" in API "
            "group \"\" in the namespace \"vault\")") in r.stderr
    r = run_plugin(["--context", "fake-denied", "status"], kubeconfig=fake.kubeconfig)
    assert "RBAC denies \"list\" on resource \"statefulsets.apps\"" in r.stderr


def test_two_vaults_in_one_namespace(make_fake):
    fake = make_fake("--second-vault", "vault:vault2")
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert ("several Vault StatefulSets in namespace \"vault\": vault/vault (release vault), "
            "vault/vault2 (release vault2); choose one with --release or --statefulset"
            ) in r.stderr
    r = run_plugin(["status", "--release", "vault2"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 3
    assert r.stdout.startswith("StatefulSet vault/vault2 (release vault2,")
    assert "vault2-0" in r.stdout
    r = run_plugin(["--statefulset", "vault2", "status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 3
    r = run_plugin(["--statefulset", "nope", "status"], kubeconfig=fake.kubeconfig)
    assert "StatefulSet \"nope\" not found in namespace \"vault\" (--statefulset, -n)" in r.stderr


def test_vault_in_another_namespace(make_fake):
    fake = make_fake("--namespace", "secrets")
    r = run_plugin(["-n", "default", "status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert ("no Vault StatefulSet in namespace \"default\"; found secrets/vault (release vault): "
            "use -n NAMESPACE") in r.stderr
    r = run_plugin(["status", "-n", "secrets"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 3


def test_kubeconfig_errors(fake, tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("apiVersion: v1\nclusters:\n- name: a\n  cluster: {server: x\n")
    r = run_plugin(["status"], kubeconfig=bad)
    assert r.returncode == 1
    assert r.stderr.startswith("kubectl vault-ha: %s:5:1: invalid YAML:" % bad)
    r = run_plugin(["--context", "nope", "status"], kubeconfig=fake.kubeconfig)
    assert ("context \"nope\" does not exist in %s (known contexts: fake, fake-token, "
            "fake-tokenfile, fake-exec, fake-limited, fake-denied, fake-badtoken)"
            % fake.kubeconfig) in r.stderr


def test_pods_not_running(make_fake):
    fake = make_fake("--pod-state", "vault-2=Pending:Unschedulable",
                     "--pod-state", "vault-1=CrashLoopBackOff")
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 3
    assert re.search(r"vault-1 +Running \(CrashLoopBackOff\) +false +- +- +down", r.stdout), r.stdout
    assert re.search(r"vault-2 +Pending \(Unschedulable\) +false +- +- +down", r.stdout), r.stdout
    assert "  - vault-1 is not running: Running (CrashLoopBackOff)" in r.stdout
    assert "  - vault-2 is not running: Pending (Unschedulable: 0/3 nodes are available" in r.stdout


def test_long_messages_keep_the_table_narrow(make_fake):
    """A scheduler message of any length stays out of the table (its reason stays in),
    and the findings under the table give it whole; names, images and versions from the
    API server or a pod are cut to a bound, -o wide included."""
    fake = make_fake("--pod-state", "vault-2=Pending:Unschedulable")
    message = "0/300 nodes are available: " + ", ".join(
        "1 node(s) had volume node affinity conflict on zone-%d" % i for i in range(60))
    fake.control("patch", {"namespace": "vault", "kind": "Pod", "name": "vault-2", "patch": {
        "status": {"conditions": [{"type": "PodScheduled", "status": "False",
                                   "reason": "Unschedulable", "message": message}]}}})
    fake.control("patch", {"namespace": "vault", "kind": "Pod", "name": "vault-0", "patch": {
        "spec": {"nodeName": "node-" + "n" * 240,
                 "containers": [{"name": "vault", "image": "registry.example/" + "i" * 300}]}}})
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 3, r.stderr
    lines = r.stdout.splitlines()
    table = lines[2:lines.index("", 2)]
    assert re.fullmatch(r"vault-2 +Pending \(Unschedulable\) +false +- +- +down +- +- +- +\d+s"
                        r" +0 +- *", table[3]), table[3]
    assert ("  - vault-2 is not running: Pending (Unschedulable: %s)" % message) in lines
    assert re.search(r"vault-0 .* node-n{32}\.\.\.$", table[1]), table[1]
    assert max(map(len, table)) < 200, table
    wide = run_plugin(["status", "-o", "wide"], kubeconfig=fake.kubeconfig)
    lines = wide.stdout.splitlines()
    table = lines[2:lines.index("", 2)]
    assert table[0].split()[-4:] == ["ID", "IP", "IMAGE", "SEAL"]
    assert table[1].endswith("registry.example/" + "i" * 44 + "...   shamir"), table[1]
    assert re.search(r"vault-2 +Pending \(Unschedulable\) ", table[3]), table[3]
    assert max(map(len, table)) < 300, table
    assert ("  - vault-2 is not running: Pending (Unschedulable: %s)" % message) in lines


def test_missing_replica_ordered_ready(make_fake):
    fake = make_fake("--openbao", "--release", "openbao", "--pod-state", "openbao-1=missing",
                     "--pod-state", "openbao-2=missing")
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    assert r.stdout.startswith("StatefulSet vault/openbao (release openbao, "
                               "quay.io/openbao/openbao:2.6.2)")
    assert "  - openbao-1 has no pod: waiting for openbao-0 to be Ready (podManagementPolicy " \
           "OrderedReady)" in r.stdout


def test_degraded_after_leader_loss_and_stale_labels(fake, tmp_path):
    keys = bootstrapped(fake, tmp_path)
    doc = json.loads(run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig).stdout)
    leader = doc["verdict"]["active"]
    standby = [p["name"] for p in doc["pods"] if p["name"] != leader][0]
    fake.control("labels", {"namespace": "vault", "pod": standby,
                            "labels": {"vault-sealed": "true"}})
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 2
    assert ("  - %s is labelled vault-sealed=true but its vault status says unsealed (labels lag "
            "behind)" % standby) in r.stdout
    fake.control("labels", {"namespace": "vault", "pod": standby, "labels": {"vault-sealed": None}})
    assert fake.kubectl("delete", "pod", leader, "-n", "vault").returncode == 0
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    assert r.returncode in (2, 3)
    assert "  - 1 pod is sealed" in r.stdout
    assert "Next:\n  kubectl vault-ha unseal" in r.stdout
    assert keys["root_token"] not in r.stdout


def test_retry_on_429_with_retry_after(fake):
    fake.control("fail", {"path": "/api/v1/namespaces/vault/pods", "status": 429, "count": 2,
                          "retry_after": 1})
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 3, r.stderr
    pods = [e for e in fake.audit_log() if e["uri"].startswith("/api/v1/namespaces/vault/pods?")]
    assert [e["status"] for e in pods] == [429, 429, 200]


def test_no_color_and_trace(fake):
    r = run_plugin(["-v", "status"], kubeconfig=fake.kubeconfig)
    assert "\033[" not in r.stdout
    assert re.search(r"^trace: GET %s/apis/apps/v1/namespaces/vault/statefulsets\?labelSelector="
                     r"\S+ 200 \(\d+ ms" % re.escape(fake.url), r.stderr, re.M), r.stderr
    assert "Authorization" not in r.stderr and "Bearer" not in r.stderr


class SlowRelay:
    """A TCP relay to the fake that holds each new connection `delay` seconds before passing
    any byte: a TLS handshake that takes that long (a slow link, a busy API server)."""

    def __init__(self, port, delay):
        import socket
        import threading
        self.port, self.delay = port, delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "https://127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import socket
        import threading
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            def serve(c=client):
                time.sleep(self.delay)
                up = socket.create_connection(("127.0.0.1", self.port))
                for a, b in ((c, up), (up, c)):
                    threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()
            threading.Thread(target=serve, daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(2)
                except OSError:
                    pass


def test_a_longer_request_timeout_gives_the_handshake_longer(fake):
    """The handshake gets 10 s (client-go's), or a third of a longer --request-timeout."""
    relay = SlowRelay(int(fake.url.rsplit(":", 1)[1]), 12)
    r = run_plugin(["--server", relay.url, "status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert r.stderr == ('kubectl vault-ha: finding the Vault StatefulSet in namespace "vault": '
                        "no answer from the API server at %s within 30000 ms, or no connection "
                        "within 10000 ms (--request-timeout sets both): SSL connection timeout\n"
                        % relay.url)
    r = run_plugin(["--server", relay.url, "--request-timeout", "60s", "status"],
                   kubeconfig=fake.kubeconfig, timeout=180)
    assert r.returncode == 3, r.stderr
    assert "Cluster: unavailable" in r.stdout
