"""doctor against the fake cluster (issue 13): one healthy fake where every check
says ok, fakes where the fake's switches break each check, RBAC that denies the
lists (skipped, exit 0), -o json|yaml with stable ids, exit codes 0/1/2/3.

The fakes start from presets (an initialized, unsealed HA cluster), so no test
waits for a bootstrap."""
import json
import os
import re
import subprocess

import pytest
import yaml

from conftest import run_plugin

IDS = ["VHA-STS-001", "VHA-STS-002", "VHA-STS-003", "VHA-STS-004", "VHA-SVC-001",
       "VHA-SVC-002", "VHA-SVC-003", "VHA-SVC-004", "VHA-EP-001", "VHA-EP-002", "VHA-DNS-001",
       "VHA-PVC-001", "VHA-PVC-002", "VHA-PLACE-001", "VHA-PLACE-002", "VHA-PLACE-003",
       "VHA-RAFT-001", "VHA-RAFT-002", "VHA-RAFT-003", "VHA-RAFT-004", "VHA-RAFT-005",
       "VHA-TLS-001", "VHA-TLS-002", "VHA-TLS-003", "VHA-VER-001", "VHA-VER-002",
       "VHA-VER-003", "VHA-VER-004", "VHA-LBL-001"]


def root_token(fake):
    with open(os.path.join(fake.state_dir, "vault", "vault", "vault", "vault-init.json")) as f:
        return json.load(f)["root_token"]


def doctor(fake, *args, token=None, env=None):
    e = dict(env or {})
    if token:
        e["VAULT_TOKEN"] = token
    return run_plugin(["doctor"] + list(args), kubeconfig=fake.kubeconfig, env=e, timeout=120)


def findings(r):
    """{id: [(level, message, fix)]} from the table output."""
    out = {}
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"(ok|advice|warn|error|skipped) +(VHA-[A-Z]+-\d{3}) +(.*)", line)
        if m:
            msg, _, fix = m.group(3).partition("; fix: ")
            out.setdefault(m.group(2), []).append((m.group(1), msg, fix or None))
    return out


def one(found, check):
    assert len(found[check]) == 1, found[check]
    return found[check][0]


# --- the healthy cluster ----------------------------------------------------------------------

HEALTHY = ("--tls", "--set-node-id", "--vault-opt", "preset=ha", "--vault-opt",
           "seal_type=transit")

HEALTHY_LINES = [
    "ok      VHA-STS-001   3 replicas: quorum 2, failure tolerance 1",
    "ok      VHA-STS-002   podManagementPolicy Parallel: every pod starts at once",
    "ok      VHA-STS-003   updateStrategy OnDelete: pods change only when you delete them, one "
    "at a time",
    "ok      VHA-STS-004   every pod runs the StatefulSet's revision vault-5d8c7b9f6",
    "ok      VHA-SVC-001   vault-internal is headless and selects the 3 server pods",
    "ok      VHA-SVC-002   vault-internal publishes not-ready addresses: sealed pods keep their "
    "DNS names",
    "ok      VHA-SVC-003   vault-active selects vault-active=true and vault-standby "
    "vault-active=false",
    "ok      VHA-SVC-004   only vault-internal publishes not-ready addresses: clients reach "
    "unsealed pods only",
    "ok      VHA-EP-001    vault-internal lists all 3 pods, ready or not (EndpointSlices)",
    "ok      VHA-EP-002    vault-active lists vault-0, the active node",
    "ok      VHA-DNS-001   every pod's <pod>.vault-internal name resolves to its IP from the "
    "other pods (6 lookups, nslookup)",
    "ok      VHA-PVC-001   3 PVCs (data) are Bound (10Gi each)",
    "ok      VHA-PVC-002   raft data volumes are 3% full",
    "ok      VHA-PLACE-001 3 voters on 3 different nodes",
    "ok      VHA-PLACE-002 3 voters in 3 zones (zone-a 1, zone-b 1, zone-c 1): losing one zone "
    "keeps quorum",
    "ok      VHA-PLACE-003 PodDisruptionBudget vault allows 1 server pod down at a time",
    "ok      VHA-RAFT-001  autopilot: healthy, failure tolerance 1",
    "ok      VHA-RAFT-002  all 3 raft servers are alive and have a pod",
    "ok      VHA-RAFT-003  every raft server is a voter",
    None,  # VHA-RAFT-004: the index, checked below
    "ok      VHA-RAFT-005  autopilot's cleanup_dead_servers is off: a dead server stays a voter "
    "until you remove it (remove-peer); 'vault operator raft autopilot set-config "
    "-cleanup-dead-servers=true -min-quorum=3' automates that",
    "ok      VHA-TLS-001   the certificates of 3 pods cover <pod>.vault-internal and 127.0.0.1",
    None,  # VHA-TLS-002: dates
    None,  # VHA-TLS-003: the CA's path in the state directory
    "ok      VHA-VER-001   every pod runs vault 1.21.2",
    "ok      VHA-VER-002   the image tags match the versions 3 pods report",
    "ok      VHA-VER-003   auto-unseal (transit): every initialized pod unsealed itself",
    "ok      VHA-VER-004   seal config: transit",
    "ok      VHA-LBL-001   the vault-* labels of 3 pods agree with their vault status",
]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    from harness import FakeCluster
    with FakeCluster(tmp_path_factory.mktemp("healthy"), *HEALTHY) as f:
        yield f


def test_healthy_cluster_every_check_ok(healthy):
    r = doctor(healthy, token=root_token(healthy))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == len(IDS) + 2
    for want, got in zip(HEALTHY_LINES, lines):
        if want is not None:
            assert got == want
    assert re.fullmatch(r"ok      VHA-RAFT-004  followers are within 0 entries of the leader's "
                        r"applied index \d+", lines[19]), lines[19]
    assert re.fullmatch(r"ok      VHA-TLS-002   certificates valid for 36[45] more days at least "
                        r"\(until \d{4}-\d\d-\d\d\)", lines[22]), lines[22]
    assert lines[23] == ("ok      VHA-TLS-003   the certificates of 3 pods are signed by the CA "
                         "joins use, %s (VAULT_CACERT)"
                         % os.path.join(healthy.state_dir, "vault/vault/vault/tls/ca.crt"))
    assert lines[-2:] == ["", "29 ok, 0 advice, 0 warnings, 0 errors, 0 skipped"]
    # One exec per pod plus the three token calls, all in one batch; no shell in argv
    # carries the token (it goes on stdin).
    execs = healthy.exec_log()[-6:]
    assert sorted(e["pod"] for e in execs) == ["vault-0", "vault-0", "vault-0", "vault-0",
                                               "vault-1", "vault-2"]
    assert not any(root_token(healthy) in json.dumps(e) for e in healthy.exec_log())


def test_healthy_json_yaml_and_stable_ids(healthy):
    r = doctor(healthy, "-o", "json", token=root_token(healthy))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [x["id"] for x in doc["findings"]] == IDS
    assert {x["level"] for x in doc["findings"]} == {"ok"}
    assert doc["findings"][0] == {"id": "VHA-STS-001", "level": "ok",
                                  "message": "3 replicas: quorum 2, failure tolerance 1",
                                  "fix": None}
    assert doc["summary"] == {"ok": 29, "advice": 0, "warn": 0, "error": 0, "skipped": 0}
    assert (doc["namespace"], doc["statefulset"], doc["exitCode"]) == ("vault", "vault", 0)
    r = doctor(healthy, "-o", "yaml", "--check", "VHA-STS-001,VHA-SVC-002")
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(r.stdout)["findings"] == [
        {"id": "VHA-STS-001", "level": "ok", "message": "3 replicas: quorum 2, failure tolerance 1",
         "fix": None},
        {"id": "VHA-SVC-002", "level": "ok",
         "message": "vault-internal publishes not-ready addresses: sealed pods keep their DNS "
                    "names", "fix": None}]


def test_without_a_token_raft_checks_are_skipped(healthy):
    r = doctor(healthy, "--check", "VHA-RAFT")
    assert r.returncode == 0, r.stderr
    skip = ("no Vault token: raft peers and autopilot not read", "set VAULT_TOKEN or use "
            "--token-file FILE (a token that may read sys/storage/raft/*)")
    f = findings(r)
    for check in ["VHA-RAFT-001", "VHA-RAFT-002", "VHA-RAFT-003", "VHA-RAFT-005"]:
        assert one(f, check) == ("skipped",) + skip
    assert one(f, "VHA-RAFT-004")[0] == "ok"
    assert r.stdout.splitlines()[-1] == "1 ok, 0 advice, 0 warnings, 0 errors, 4 skipped"


def test_token_file_and_selection(healthy, tmp_path):
    tok = tmp_path / "token"
    tok.write_text(root_token(healthy) + "\n")
    os.chmod(tok, 0o600)
    r = doctor(healthy, "--check", "vha-raft-001", "VHA-RAFT-002", "--token-file", str(tok))
    assert r.returncode == 0, r.stderr
    assert list(findings(r)) == ["VHA-RAFT-001", "VHA-RAFT-002"]
    # From standard input: read once (a second reading would find it empty).
    r = run_plugin(["doctor", "--check", "VHA-RAFT-001", "--token-file", "-"],
                   kubeconfig=healthy.kubeconfig, input=root_token(healthy) + "\n", timeout=120)
    assert r.returncode == 0, r.stderr
    assert [l for l, _, _ in findings(r)["VHA-RAFT-001"]] == ["ok"], r.stdout
    r = doctor(healthy, "--check", "VHA-NOPE")
    assert r.returncode == 64
    assert r.stdout == ""
    assert r.stderr == ('kubectl vault-ha: no check "VHA-NOPE" (ids look like VHA-DNS-001; a '
                        'prefix such as VHA-SVC selects a group)\nsee \'kubectl vault-ha doctor '
                        '--help\'\n')


def test_rbac_denies_the_lists_skipped_and_exit_0(healthy):
    # May find the StatefulSet and pods and exec, nothing else.
    healthy.control("rbac", {"user": "limited", "rules": [
        {"verbs": ["get", "list"], "resources": ["statefulsets", "pods"], "namespace": "vault"},
        {"verbs": ["get", "create"], "resources": ["pods/exec"], "namespace": "vault"}]})
    try:
        r = doctor(healthy, "--context", "fake-limited", token=root_token(healthy))
    finally:
        healthy.control("rbac", {"user": "limited", "rules": [
            {"verbs": ["get", "list"], "resources": ["statefulsets"], "namespace": "vault"}]})
    assert r.returncode == 0, r.stdout + r.stderr
    f = findings(r)
    denied = {
        "services": ["VHA-SVC-001", "VHA-SVC-002", "VHA-SVC-003", "VHA-SVC-004"],
        "persistentvolumeclaims": ["VHA-PVC-001"],
        "poddisruptionbudgets.policy": ["VHA-PLACE-003"],
    }
    for resource, checks in denied.items():
        for check in checks:
            assert one(f, check) == (
                "skipped", 'RBAC denies "list" on "%s" in namespace vault: cannot check'
                % resource, 'grant "get" and "list" on "%s" to this user (README, RBAC)'
                % resource)
    assert one(f, "VHA-PLACE-002") == (
        "skipped", 'RBAC denies "list" on "nodes" at the cluster scope: cannot check',
        'grant "get" and "list" on "nodes" to this user (README, RBAC)')
    for check in ["VHA-EP-001", "VHA-EP-002"]:
        assert one(f, check) == (
            "skipped", 'RBAC denies "list" on "endpointslices.discovery.k8s.io" in namespace '
            'vault and "list" on "endpoints" in namespace vault: cannot check',
            'grant "get" and "list" on "endpointslices" (discovery.k8s.io) or "endpoints" to '
            'this user (README, RBAC)')
    assert {x[0] for k, v in f.items() for x in v if k not in sum(denied.values(), [])
            + ["VHA-PLACE-002", "VHA-EP-001", "VHA-EP-002"]} == {"ok"}
    assert r.stdout.splitlines()[-1] == "20 ok, 0 advice, 0 warnings, 0 errors, 9 skipped"


def test_completion_offers_every_check_id(healthy):
    r = run_plugin(["__complete", "doctor", "--check", ""], kubeconfig=healthy.kubeconfig)
    assert r.returncode == 0
    assert r.stdout.splitlines()[:-1] == IDS


# --- the cluster around Vault broken ----------------------------------------------------------

def break_around(fake):
    """One switch per check, all independent of each other."""
    c = fake.control
    c("patch", {"namespace": "vault", "kind": "StatefulSet", "name": "vault",
                "patch": {"spec": {"updateStrategy": {"type": "RollingUpdate"}}}})
    c("revision", {"namespace": "vault", "revision": "vault-7f6e5d4c3", "pods": ["vault-1"]})
    c("patch", {"namespace": "vault", "kind": "Service", "name": "vault-internal",
                "patch": {"spec": {"publishNotReadyAddresses": None}}})
    c("patch", {"namespace": "vault", "kind": "Service", "name": "vault",
                "patch": {"spec": {"publishNotReadyAddresses": True}}})
    c("patch", {"namespace": "vault", "kind": "Service", "name": "vault-standby", "patch": None})
    c("labels", {"namespace": "vault", "pod": "vault-1", "labels": {"vault-active": "true"}})
    c("patch", {"namespace": "vault", "kind": "PersistentVolumeClaim", "name": "data-vault-2",
                "patch": {"status": {"phase": "Pending", "capacity": None}}})
    c("disk", {"namespace": "vault", "pod": "vault-1", "used_percent": 85})
    c("disk", {"namespace": "vault", "pod": "vault-0", "used_percent": 97})
    c("patch", {"namespace": "vault", "kind": "PodDisruptionBudget", "name": "vault",
                "patch": {"spec": {"maxUnavailable": 2}}})
    c("patch", {"kind": "Node", "name": "node-2",
                "patch": {"metadata": {"labels": {"topology.kubernetes.io/zone": "zone-a"}}}})
    c("patch", {"namespace": "vault", "kind": "Pod", "name": "vault-2", "patch": {"spec": {
        "containers": [{"name": "vault", "image": "hashicorp/vault:1.20.0"}]}}})
    # DNS: vault-1 gone from DNS long after it started, vault-0 stale, vault-2 young and lagging
    c("patch", {"namespace": "vault", "kind": "Pod", "name": "vault-1",
                "patch": {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}})
    c("patch", {"namespace": "vault", "kind": "Pod", "name": "vault-0",
                "patch": {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}})
    c("dns", {"namespace": "vault", "pod": "vault-1", "mode": "nxdomain"})
    c("dns", {"namespace": "vault", "pod": "vault-0", "mode": "stale", "ip": "10.244.9.9"})
    c("dns", {"namespace": "vault", "pod": "vault-2", "mode": "lag", "seconds": 3600})


def test_broken_around_vault(make_fake):
    fake = make_fake("--set-node-id", "--vault-opt", "preset=ha", "--vault-opt",
                     "dead_peers=vault-3", "--vault-opt", "applied_lag=vault-1:5000")
    break_around(fake)
    r = doctor(fake, token=root_token(fake))
    assert r.returncode == 3, r.stdout + r.stderr
    f = findings(r)
    assert list(f) == IDS
    assert one(f, "VHA-STS-001")[0] == "ok"
    assert one(f, "VHA-STS-003") == (
        "warn", "updateStrategy RollingUpdate restarts the pods on every template change; each "
        "comes back sealed and the rollout stops until someone unseals it",
        "kubectl -n vault patch statefulset vault -p "
        "'{\"spec\":{\"updateStrategy\":{\"type\":\"OnDelete\",\"rollingUpdate\":null}}}' (chart: "
        "server.updateStrategyType=OnDelete)")
    assert one(f, "VHA-STS-004") == (
        "warn", "an update is half done: vault-2, vault-0 still run revision vault-5d8c7b9f6, "
        "the StatefulSet wants vault-7f6e5d4c3",
        "kubectl vault-ha upgrade; by hand, one pod at a time, standbys first, the active pod "
        "last: kubectl -n vault delete pod "
        "vault-2 && kubectl vault-ha unseal vault-2; kubectl vault-ha step-down && kubectl -n "
        "vault delete pod vault-0 && kubectl vault-ha unseal vault-0")
    assert one(f, "VHA-SVC-001")[0] == "ok"
    assert one(f, "VHA-SVC-002") == (
        "error", "vault-internal does not publish not-ready addresses: a sealed pod is not Ready, "
        "so it has no DNS name and cannot join (hashicorp/vault-helm#817)",
        "kubectl -n vault patch svc vault-internal -p "
        "'{\"spec\":{\"publishNotReadyAddresses\":true}}'")
    assert one(f, "VHA-SVC-003") == (
        "warn", "service vault-standby does not exist: clients that use it reach nothing",
        "helm upgrade the release with server.ha.enabled=true and server.service.enabled=true")
    assert one(f, "VHA-SVC-004") == (
        "advice", "vault publishes not-ready addresses (the chart's default, "
        "hashicorp/vault-helm#902): client requests may reach a sealed pod and fail "
        "(hashicorp/vault-helm#817)", "to send clients to unsealed pods only: helm upgrade with "
        "server.service.publishNotReadyAddresses=false (vault-internal keeps it)")
    # every pod is Ready: the internal service still lists them all
    assert one(f, "VHA-EP-001")[0] == "ok"
    assert one(f, "VHA-EP-002") == (
        "error", "vault-active lists vault-0, vault-1, but only vault-0 is active: vault-1 "
        "carries a stale vault-active=true label, so clients reach a standby "
        "(hashicorp/vault#18117)",
        "kubectl -n vault label pod vault-1 vault-active=false --overwrite")
    dns = f["VHA-DNS-001"]
    assert dns[0] == (
        "error", "vault-0.vault-internal resolves to 10.244.9.9 from vault-1, vault-2, but "
        "vault-0's IP is 10.244.1.17: stale DNS", "check the endpoints (VHA-EP-001); cached "
        "answers expire with their TTL, restarting the cluster DNS pods clears them")
    assert dns[1] == (
        "error", "vault-1.vault-internal does not resolve from vault-0, vault-2 (** server can't "
        "find vault-1.vault-internal: NXDOMAIN): vault-1 cannot be reached to join or replicate",
        "check that the headless service lists it (VHA-EP-001) and the cluster DNS: kubectl -n "
        "kube-system get pods -l k8s-app=kube-dns")
    assert re.fullmatch(r"vault-2\.vault-internal does not resolve yet from vault-0, vault-1: "
                        r"vault-2 started \d+s ago and StatefulSet DNS can lag ~30 s "
                        r"\(kubernetes/kubernetes#92559\)", dns[2][1]), dns[2]
    assert dns[2][0] == "warn" and len(dns) == 3
    assert one(f, "VHA-PVC-001") == (
        "error", "PVC data-vault-2 is Pending, not Bound: vault-2 cannot start",
        "kubectl -n vault describe pvc data-vault-2 (storage class, capacity, zone)")
    assert f["VHA-PVC-002"] == [
        ("error", "vault-0's raft data volume is 97% full (9932 of 10240 MiB used): Vault stops "
                  "writing when it is full",
         "kubectl vault-ha snapshot save backup.snap, then grow the claim: kubectl -n vault "
         "patch pvc data-vault-0 -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":"
         "\"20Gi\"}}}}' (the storage class must allow expansion)"),
        ("warn", "vault-1's raft data volume is 85% full (8704 of 10240 MiB used)",
         "kubectl vault-ha snapshot save backup.snap, then grow the claim: kubectl -n vault "
         "patch pvc data-vault-1 -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":"
         "\"20Gi\"}}}}' (the storage class must allow expansion)")]
    assert one(f, "VHA-PLACE-001")[0] == "ok"
    # four voters (the dead vault-3 counts): quorum 3, zone-a holds 2 of them
    assert one(f, "VHA-PLACE-002") == (
        "advice", "losing zone zone-a loses quorum: voters per zone zone-a 2, zone-b 1 (quorum 3); "
        "the cluster has fewer than 3 zones",
        "spread the pods over 3 or more zones: a topologySpreadConstraint on "
        "topology.kubernetes.io/zone with maxSkew 1 (server.topologySpreadConstraints), then "
        "move pods one at a time (delete, unseal)")
    assert one(f, "VHA-PLACE-003") == (
        "error", "PodDisruptionBudget vault lets 2 pods go down at once: evictions can take "
        "quorum (4 voters tolerate 1)", "kubectl -n vault patch pdb vault --type merge -p "
        "'{\"spec\":{\"maxUnavailable\":1,\"minAvailable\":null}}'")
    assert one(f, "VHA-RAFT-001") == (
        "error", "autopilot reports the cluster unhealthy (failure tolerance 0): vault-3 (failed)",
        "kubectl vault-ha status shows what each pod needs; VHA-RAFT-002 names dead servers")
    assert one(f, "VHA-RAFT-002") == (
        "error", "raft voter vault-3 (vault-3.vault-internal:8201) has no pod: a dead server that "
        "eats failure tolerance, autopilot: failed", "kubectl vault-ha remove-peer vault-3")
    assert one(f, "VHA-RAFT-003")[0] == "ok"
    assert re.fullmatch(r"vault-1's applied index \d+ trails the leader vault-0 \(\d+\) by 5000 "
                        r"entries, more than max_trailing_logs \(1000\)", f["VHA-RAFT-004"][0][1])
    assert one(f, "VHA-RAFT-005") == (
        "warn", "autopilot's cleanup_dead_servers is off, so dead servers (1) stay voters until "
        "removed by hand", "kubectl vault-ha remove-peer vault-3; to automate it: vault operator "
        "raft autopilot set-config -cleanup-dead-servers=true -min-quorum=3")
    for check in ["VHA-TLS-001", "VHA-TLS-002", "VHA-TLS-003"]:
        assert one(f, check) == ("skipped", "the listener has TLS disabled (tls_disable = 1)",
                                 None)
    assert one(f, "VHA-VER-001")[0] == "ok"
    assert one(f, "VHA-VER-002") == (
        "warn", "vault-2 runs image hashicorp/vault:1.20.0 but reports version 1.21.2: the tag "
        "does not say what runs", "pin server.image.tag to the version you mean to run and "
        "restart vault-2")
    assert one(f, "VHA-VER-003") == (
        "advice", "Shamir seal: every pod restart (node drain, upgrade, crash) stays sealed until 3 "
        "of the 5 key holders unseal it", "auto-unseal: add a seal stanza (awskms, gcpckms, "
        "azurekeyvault or transit) to the config and run vault operator unseal -migrate on each "
        "pod")
    assert one(f, "VHA-LBL-001") == (
        "warn", "vault-1 is labelled vault-active=true, but its vault status says unsealed, not "
        "active: the vault-active and -standby Services route by these labels "
        "(hashicorp/vault#18117)", "kubectl -n vault label pod vault-1 vault-active=false "
        "--overwrite (Vault writes them again at its next change)")
    # -o json: the same findings, the same exit code
    r2 = doctor(fake, "-o", "json", token=root_token(fake))
    assert r2.returncode == 3
    doc = json.loads(r2.stdout)
    assert doc["exitCode"] == 3
    assert [x["id"] for x in doc["findings"]] == [k for k, v in f.items() for _ in v]


# --- the runbook's cluster: advice, not warnings -------------------------------------------------

def chart_default_services(fake):
    """The chart's default (server.service.publishNotReadyAddresses: true, kept on purpose in
    hashicorp/vault-helm#902): the client Services publish not-ready addresses too."""
    for svc in ("vault", "vault-active", "vault-standby"):
        fake.control("patch", {"namespace": "vault", "kind": "Service", "name": svc,
                               "patch": {"spec": {"publishNotReadyAddresses": True}}})


RUNBOOK_ADVICE = [
    ("VHA-SVC-004", "vault, vault-active, vault-standby publish not-ready addresses (the chart's "
     "default, hashicorp/vault-helm#902): client requests may reach a sealed pod and fail "
     "(hashicorp/vault-helm#817)", "to send clients to unsealed pods only: helm upgrade with "
     "server.service.publishNotReadyAddresses=false (vault-internal keeps it)"),
    ("VHA-VER-003", "Shamir seal: every pod restart (node drain, upgrade, crash) stays sealed "
     "until 3 of the 5 key holders unseal it", "auto-unseal: add a seal stanza (awskms, gcpckms, "
     "azurekeyvault or transit) to the config and run vault operator unseal -migrate on each "
     "pod"),
]


def test_runbook_cluster_advice_exit_0_and_strict(make_fake):
    """Built as the runbook builds it (Shamir keys, the chart's Services): a working cluster.
    Its recommendations are advice: shown, counted, in -o json, exit 0; --strict makes them
    count as warnings (exit 2)."""
    fake = make_fake("--set-node-id", "--vault-opt", "preset=ha")
    chart_default_services(fake)
    r = doctor(fake, token=root_token(fake))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""
    f = findings(r)
    assert list(f) == IDS
    advice = [(k, m, x) for k, v in f.items() for (lvl, m, x) in v if lvl == "advice"]
    assert advice == RUNBOOK_ADVICE
    assert {lvl for v in f.values() for (lvl, _, _) in v} == {"ok", "advice", "skipped"}
    assert ("advice  VHA-SVC-004   vault, vault-active, vault-standby publish not-ready "
            "addresses") in r.stdout
    assert r.stdout.splitlines()[-1] == "24 ok, 2 advice, 0 warnings, 0 errors, 3 skipped"
    r = doctor(fake, "--strict", token=root_token(fake))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "24 ok, 2 advice, 0 warnings, 0 errors, 3 skipped"
    r = doctor(fake, "-o", "json", "--check", "VHA-SVC-004,VHA-VER-003,VHA-STS-001")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [(x["id"], x["level"]) for x in doc["findings"]] == [
        ("VHA-STS-001", "ok"), ("VHA-SVC-004", "advice"), ("VHA-VER-003", "advice")]
    assert doc["findings"][1]["message"] == RUNBOOK_ADVICE[0][1]
    assert doc["summary"] == {"ok": 1, "advice": 2, "warn": 0, "error": 0, "skipped": 0}
    assert doc["exitCode"] == 0
    r = doctor(fake, "-o", "json", "--strict", "--check", "VHA-VER-003")
    assert (r.returncode, json.loads(r.stdout)["exitCode"]) == (2, 2)


def test_advice_has_its_own_colour_on_a_terminal(make_fake):
    import pty
    fake = make_fake("--vault-opt", "preset=ha")
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update(HOME="/nonexistent", KUBECONFIG=str(fake.kubeconfig))
    from conftest import BIN
    p = subprocess.Popen([BIN, "doctor", "--check", "VHA-VER-003,VHA-STS-001"], stdout=secondary,
                         env=env)
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert p.wait(timeout=120) == 0
    os.close(primary)
    text = out.decode()
    assert "\x1b[32mok     \x1b[0m VHA-STS-001" in text, text
    assert "\x1b[36madvice \x1b[0m VHA-VER-003   Shamir seal" in text, text


def test_warnings_only_exit_2_and_a_sealed_pod_without_dns(make_fake):
    fake = make_fake("--vault-opt", "preset=ha", "--vault-opt", "seal_type=transit")
    fake.control("patch", {"namespace": "vault", "kind": "Service", "name": "vault-internal",
                           "patch": {"spec": {"publishNotReadyAddresses": False}}})
    r = doctor(fake, "--check", "VHA-SVC-004,VHA-STS")
    assert r.returncode == 0, r.stdout
    fake.control("patch", {"namespace": "vault", "kind": "StatefulSet", "name": "vault",
                           "patch": {"spec": {"replicas": 4}}})
    r = doctor(fake, "--check", "VHA-STS-001")
    assert r.returncode == 2, r.stdout
    assert r.stdout == (
        "warn    VHA-STS-001   4 replicas: an even count tolerates no more failures than 3 "
        "(quorum 3, failure tolerance 1); fix: kubectl -n vault scale statefulset vault "
        "--replicas=5 && kubectl vault-ha join\n\n0 ok, 0 advice, 1 warning, 0 errors, "
        "0 skipped\n")
    fake.control("unpatch", {"namespace": "vault", "kind": "StatefulSet", "name": "vault"})
    # The auto-unseal seal unreachable, vault-2 restarted: it stays sealed, is not Ready, and
    # since vault-internal does not publish not-ready pods it drops out of DNS.
    fake.control("seal", {"namespace": "vault", "available": False})
    fake.kubectl("delete", "pod", "vault-2", "-n", "vault")
    fake.control("patch", {"namespace": "vault", "kind": "Pod", "name": "vault-2",
                           "patch": {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}})
    r = doctor(fake, "--check", "VHA-VER-003,VHA-EP-001,VHA-DNS-001")
    assert r.returncode == 3, r.stdout
    f = findings(r)
    assert one(f, "VHA-VER-003") == (
        "error", "vault-2 is sealed although the seal is transit (auto-unseal): the seal cannot "
        "be reached", "look for the seal's error in the pod log (kubectl -n vault logs vault-2 | "
        "grep -i seal): credentials, network, key permissions")
    assert one(f, "VHA-EP-001") == (
        "error", "vault-internal lists vault-2 as not ready: DNS leaves them out until they are "
        "unsealed, so they cannot join", "kubectl -n vault patch svc vault-internal -p "
        "'{\"spec\":{\"publishNotReadyAddresses\":true}}'")
    assert one(f, "VHA-DNS-001")[:2] == (
        "error", "vault-2.vault-internal does not resolve from vault-0, vault-1 (** server can't "
        "find vault-2.vault-internal: NXDOMAIN): vault-2 cannot be reached to join or replicate")


def test_selector_placement_and_version_skew(make_fake):
    fake = make_fake("--vault-opt", "preset=ha", "--vault-opt", "pod_versions=vault-2:1.20.0",
                     "--audit-storage")
    r = doctor(fake, "--check", "VHA-PVC-001")
    assert r.stdout.splitlines()[0] == ("ok      VHA-PVC-001   6 PVCs (data, audit) are Bound "
                                        "(10Gi each)")
    fake.control("patch", {"namespace": "vault", "kind": "PersistentVolumeClaim",
                           "name": "audit-vault-0", "patch": None})
    r = doctor(fake, "--check", "VHA-PVC-001")
    assert r.returncode == 3
    assert findings(r)["VHA-PVC-001"] == [
        ("error", "PVC audit-vault-0 of vault-0 does not exist", "kubectl -n vault delete pod "
         "vault-0 (the StatefulSet recreates the claim), then kubectl vault-ha unseal vault-0")]
    fake.control("patch", {"namespace": "vault", "kind": "Pod", "name": "vault-1",
                           "patch": {"spec": {"nodeName": "node-0"}}})
    r = doctor(fake, "--check", "VHA-PLACE-001,VHA-VER-001,VHA-VER-002")
    assert r.returncode == 3, r.stdout
    f = findings(r)
    assert one(f, "VHA-PLACE-001") == (
        "error", "voters vault-0, vault-1 run on the same node node-0: losing it loses quorum",
        "require pod anti-affinity on kubernetes.io/hostname (the chart's default "
        "server.affinity), then kubectl -n vault delete pod vault-0 so it moves, and kubectl "
        "vault-ha unseal it")
    assert one(f, "VHA-VER-001") == (
        "warn", "the pods run different versions: vault-0 1.21.2, vault-1 1.21.2, vault-2 1.20.0 "
        "(an upgrade is half done)", "finish it with `kubectl vault-ha upgrade` (one pod at a "
        "time, standbys first, the active pod last)")
    assert one(f, "VHA-VER-002") == (
        "warn", "vault-2 runs image hashicorp/vault:1.21.2 but reports version 1.20.0: the tag "
        "does not say what runs", "pin server.image.tag to the version you mean to run and "
        "restart vault-2")
    # A selector that picks no server pod: no endpoints, no DNS names.
    fake.control("patch", {"namespace": "vault", "kind": "Service", "name": "vault-internal",
                           "patch": {"spec": {"selector": {"component": "injector"}}}})
    r = doctor(fake, "--check", "VHA-SVC-001,VHA-EP-001")
    assert r.returncode == 3, r.stdout
    f = findings(r)
    assert one(f, "VHA-SVC-001") == (
        "error", "service vault-internal selects app.kubernetes.io/name=vault,"
        "app.kubernetes.io/instance=vault,component=injector, which does not select vault-0, "
        "vault-1, vault-2", "kubectl -n vault patch svc vault-internal --type json -p "
        "'[{\"op\":\"replace\",\"path\":\"/spec/selector\",\"value\":"
        "{\"app.kubernetes.io/name\":\"vault\",\"app.kubernetes.io/instance\":\"vault\","
        "\"component\":\"server\"}}]'")
    assert one(f, "VHA-EP-001")[:2] == (
        "error", "vault-internal does not list vault-0, vault-1, vault-2 (EndpointSlices): those "
        "pods have no DNS name")


def test_non_voter_stuck_and_no_resolver(make_fake):
    fake = make_fake("--vault-opt", "preset=ha", "--vault-opt", "non_voters=vault-2",
                     "--vault-opt", "stabilization_seconds=0.5", "--set-node-id")
    fake.control("tools", {"namespace": "vault", "pod": "vault-1",
                           "missing": ["nslookup", "getent"]})
    fake.control("tools", {"namespace": "vault", "pod": "vault-0", "missing": ["nslookup"]})
    import time
    # Poll until vault-2 has been a non-voter longer than the stabilization time (and the
    # check's 5 s of slack for clocks): no fixed sleep, a generous deadline.
    deadline = time.time() + 90
    while True:
        r = doctor(fake, "--check", "VHA-RAFT-003,VHA-DNS", token=root_token(fake))
        if one(findings(r), "VHA-RAFT-003")[0] == "warn" or time.time() > deadline:
            break
        time.sleep(0.5)
    assert r.returncode == 2, r.stdout
    f = findings(r)
    level, msg, fix = one(f, "VHA-RAFT-003")
    assert level == "warn"
    assert re.fullmatch(r"vault-2 has been a non-voter for \d+s, longer than autopilot's "
                        r"server_stabilization_time \(500ms\): it does not count for quorum and is "
                        r"not being promoted", msg), msg
    assert fix == ("kubectl vault-ha status shows its state; a node joined with -non-voter stays "
                   "one: kubectl vault-ha remove-peer vault-2, then kubectl vault-ha join vault-2")
    # vault-0 falls back to getent; vault-1 has no resolver: skipped, the rest still checked
    assert f["VHA-DNS-001"] == [
        ("skipped", "cannot look names up from vault-1 (neither nslookup nor getent in the "
                    "image)", None),
        ("ok", "every pod's <pod>.vault-internal name resolves to its IP from the other pods (4 "
               "lookups, getent)", None)]


# --- TLS ---------------------------------------------------------------------------------------

def other_ca_pem():
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "another-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_tls_names_expiry_and_ca(make_fake):
    fake = make_fake("--tls", "--vault-opt", "preset=ha", "--vault-opt", "seal_type=transit")
    c = fake.control
    c("tls-cert", {"namespace": "vault", "pod": "vault-1", "dns": ["vault.example.com"],
                   "ips": ["127.0.0.1"]})
    c("tls-cert", {"namespace": "vault", "pod": "vault-2", "valid_days": 10})
    # vault-0's joins trust another CA (retry_join leader_ca_cert_file)
    d = "/vault/userconfig/vault-ha-tls"
    c("pod-file", {"namespace": "vault", "pod": "vault-0", "path": d + "/join-ca.crt",
                   "content": other_ca_pem()})
    with open(os.path.join(fake.state_dir, "pods/vault/vault-0/fs/vault/config/"
                                           "extraconfig-from-values.hcl")) as f:
        config = f.read()
    config = config.replace('  path = "/vault/data"\n', '  path = "/vault/data"\n  retry_join {\n'
                            '    leader_api_addr = "https://vault-1.vault-internal:8200"\n'
                            '    leader_ca_cert_file = "%s/join-ca.crt"\n  }\n' % d)
    c("pod-file", {"namespace": "vault", "pod": "vault-0",
                   "path": "/vault/config/extraconfig-from-values.hcl", "content": config})
    r = doctor(fake, "--check", "VHA-TLS")
    assert r.returncode == 3, r.stdout + r.stderr
    f = findings(r)
    assert one(f, "VHA-TLS-001") == (
        "error", "vault-1's certificate (/vault/userconfig/vault-ha-tls/vault.crt) does not "
        "cover vault-1.vault-internal, only vault.example.com, 127.0.0.1: raft joins to it fail "
        "with x509: certificate is valid for ..., not ... (hashicorp/vault-helm#645)",
        "reissue it with the names *.vault-internal, *.vault-internal.vault.svc.cluster.local "
        "and the IP 127.0.0.1, update the TLS secret, then restart the pods one at a time")
    level, msg, fix = one(f, "VHA-TLS-002")
    assert level == "warn"
    assert re.fullmatch(r"vault-2's certificate \(/vault/userconfig/vault-ha-tls/vault\.crt\) "
                        r"expires in (9|10) days, on \d{4}-\d\d-\d\d", msg), msg
    assert fix == ("renew the certificate in the TLS secret, then restart the pods one at a time "
                   "(kubectl -n vault delete pod vault-2, then kubectl vault-ha unseal vault-2)")
    assert one(f, "VHA-TLS-003") == (
        "error", "vault-0's certificate (/vault/userconfig/vault-ha-tls/vault.crt) is not signed "
        "by the CA joins use, /vault/userconfig/vault-ha-tls/join-ca.crt (retry_join "
        "leader_ca_cert_file): unable to get local issuer certificate (joins fail with x509: "
        "certificate signed by unknown authority)",
        "put the CA that issued the certificate in /vault/userconfig/vault-ha-tls/join-ca.crt "
        "(retry_join leader_ca_cert_file) (the TLS secret's ca.crt), or reissue the certificate "
        "from that CA")
    # An expired certificate: the CLI in that pod cannot verify its own listener either.
    c("tls-cert", {"namespace": "vault", "pod": "vault-2", "valid_days": -3})
    r = doctor(fake, "--check", "VHA-TLS-002")
    assert r.returncode == 3, r.stdout
    level, msg, _ = one(findings(r), "VHA-TLS-002")
    assert level == "error"
    assert re.fullmatch(r"vault-2's certificate \(/vault/userconfig/vault-ha-tls/vault\.crt\) "
                        r"expired on \d{4}-\d\d-\d\d: clients and joins fail", msg), msg


# --- OpenBao: OrderedReady, no shell ----------------------------------------------------------

def test_openbao_ordered_ready_stall_and_distroless(make_fake):
    fake = make_fake("--openbao", "--vault-opt", "distroless=true")
    r = doctor(fake)
    assert r.returncode == 3, r.stdout + r.stderr
    f = findings(r)
    assert f["VHA-STS-002"] == [
        ("error", "vault-openbao-1 was never created: podManagementPolicy OrderedReady waits for "
                  "vault-openbao-0 to be Ready, and a pod is Ready only once unsealed",
         "kubectl vault-ha unseal vault-openbao-0"),
        ("error", "vault-openbao-2 was never created: podManagementPolicy OrderedReady waits for "
                  "vault-openbao-0 to be Ready, and a pod is Ready only once unsealed",
         "kubectl vault-ha unseal vault-openbao-0")]
    # the distroless image has no shell: its status comes from bao alone, the rest is skipped
    assert one(f, "VHA-PVC-002") == ("skipped", "no fill level from vault-openbao-0 (no shell in the "
                                                "image)", None)
    assert one(f, "VHA-DNS-001") == ("skipped", "cannot look names up from vault-openbao-0 (no shell in "
                                                "the image)", None)
    assert one(f, "VHA-TLS-001") == ("skipped", "no pod's server config could be read (no shell "
                                                "in the image, or the pods are down)", None)
    assert one(f, "VHA-VER-003") == ("skipped", "no pod is initialized: no seal to look at", None)
    assert one(f, "VHA-LBL-001")[0] == "ok"
    r = doctor(fake, "--check", "VHA-RAFT-001", env={"BAO_TOKEN": "s.nothing"})
    assert r.returncode == 0
    assert findings(r)["VHA-RAFT-001"] == [
        ("skipped", "the image has no shell: the token cannot reach the CLI on stdin",
         "set VAULT_TOKEN or use --token-file FILE (a token that may read sys/storage/raft/*)")]


# --- could not run: exit 1 --------------------------------------------------------------------

def test_no_statefulset_and_api_down(make_fake):
    fake = make_fake()
    r = doctor(fake, "-n", "elsewhere")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith('kubectl vault-ha: no Vault StatefulSet in namespace "elsewhere"')
    fake.stop()
    r = doctor(fake)
    assert r.returncode == 1
    assert r.stdout == ""
    assert "cannot reach the API server at https://127.0.0.1:" in r.stderr


def test_custom_data_path_is_read_where_the_chart_mounts_it(make_fake):
    """server.dataStorage.mountPath moved (the fake's --data-path): doctor's disk check reads
    the folder lib/cluster derived for every command (recover and snapshot use the same): df
    of it answers, where the chart's default /vault/data does not exist."""
    fake = make_fake("--set-node-id", "--vault-opt", "preset=ha", "--data-path", "/srv/vault-store")
    r = doctor(fake, "-o", "json", "--check", "VHA-PVC-002", token=root_token(fake))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert [x["level"] for x in doc["findings"]] == ["ok"], doc
