"""Simulator options: the chart's container env and labels, readiness, naming, TLS, OpenBao,
Vault versions, PGP-encrypted init, presets, several releases behind one server.

Each test names the section of docs/vault-cli.md it checks."""
import asyncio
import base64
import json
import os
import time

import pytest
from aiohttp import web

from vaultsim import VaultCluster, pgp
from vaultsim.testing import SimServer, jout, status, wait_for


# ---------------------------------------------------------------- env, labels, readiness (docs/vault-cli.md §7, §8)
def test_container_env_matches_the_vault_chart(tmp_path):
    """§7 Environment table (HTTP, setNodeId), plus FAKE_VAULT_ENDPOINT."""
    vc = VaultCluster(namespace="ns1", release="prod", fullname="prod-vault", replicas=3, workdir=str(tmp_path),
                      set_node_id=True)
    env = vc.container_env("prod-vault-1", "10.1.2.3", "192.168.0.7", "http://127.0.0.1:9999")
    assert env == {
        "HOST_IP": "192.168.0.7", "POD_IP": "10.1.2.3",
        "VAULT_K8S_POD_NAME": "prod-vault-1", "VAULT_K8S_NAMESPACE": "ns1",
        "VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_API_ADDR": "http://10.1.2.3:8200",
        "SKIP_CHOWN": "true", "SKIP_SETCAP": "true", "HOSTNAME": "prod-vault-1",
        "VAULT_CLUSTER_ADDR": "https://prod-vault-1.prod-vault-internal:8201",
        "VAULT_RAFT_NODE_ID": "prod-vault-1",
        "FAKE_VAULT_ENDPOINT": "http://127.0.0.1:9999/_vault/ns1/prod-vault-1",
    }
    assert vc.container_name == "vault" and vc.image == "hashicorp/vault:1.21.2"
    assert os.access(os.path.join(vc.bin_dir(), "vault"), os.X_OK)
    assert not os.path.exists(os.path.join(vc.bin_dir(), "bao"))


def test_container_env_tls_and_openbao(tmp_path):
    """§7 TLS: https VAULT_ADDR/VAULT_API_ADDR, cluster addr always https; §8: BAO_* names, container openbao."""
    vc = VaultCluster(namespace="vault", release="vault", fullname="vault", replicas=1,
                      workdir=str(tmp_path / "t"), tls=True)
    env = vc.container_env("vault-0", "10.0.0.5", "172.18.0.2", "http://127.0.0.1:1/_vault/vault/vault-0")
    assert env["VAULT_ADDR"] == "https://127.0.0.1:8200" and env["VAULT_API_ADDR"] == "https://10.0.0.5:8200"
    assert env["VAULT_CACERT"] == vc.ca_cert_path and open(vc.ca_cert_path).read().startswith("-----BEGIN CERTIFICATE-----")
    ob = VaultCluster(namespace="openbao", release="openbao", fullname="openbao", replicas=1,
                      workdir=str(tmp_path / "o"), openbao=True)
    env = ob.container_env("openbao-0", "10.0.0.6", "172.18.0.3", "http://127.0.0.1:1")
    assert set(env) == {"HOST_IP", "POD_IP", "BAO_K8S_POD_NAME", "BAO_K8S_NAMESPACE", "BAO_ADDR", "BAO_API_ADDR",
                        "SKIP_CHOWN", "SKIP_SETCAP", "HOSTNAME", "BAO_CLUSTER_ADDR", "FAKE_VAULT_ENDPOINT"}
    assert env["BAO_CLUSTER_ADDR"] == "https://openbao-0.openbao-internal:8201"
    assert ob.container_name == "openbao" and ob.image == "quay.io/openbao/openbao:2.6.2"
    assert os.path.exists(os.path.join(ob.bin_dir(), "bao"))
    assert os.readlink(os.path.join(ob.bin_dir(), "vault")) == "bao"          # the Alpine image symlink
    dl = VaultCluster(namespace="openbao", release="openbao", fullname="openbao", replicas=1,
                      workdir=str(tmp_path / "d"), openbao=True, options={"distroless": "true"})
    assert not os.path.lexists(os.path.join(dl.bin_dir(), "vault")) and dl.has_shell is False
    with pytest.raises(ValueError, match="unknown vault option"):
        VaultCluster(namespace="v", release="v", fullname="v", replicas=1, workdir=str(tmp_path / "x"),
                     options={"no_such_option": "1"})


def test_labels_and_readiness_follow_the_node(tmp_path):
    """§7 service_registration labels (initial state sealed/not initialized, version sanitized) and
    readiness (= `vault status` exit 0)."""
    with SimServer(tmp_path, replicas=2, version="1.17.0+ent") as s:
        assert s.labels("vault-0") == {"vault-active": "false", "vault-sealed": "true",
                                       "vault-initialized": "false", "vault-perf-standby": "false",
                                       "vault-version": "1.17.0-ent"}
        assert s.ready("vault-0") is False
        init = jout(s.vault("vault-0", "operator", "init", "-format=json"))
        assert s.labels("vault-0")["vault-initialized"] == "true"
        before = s.changes
        for k in init["unseal_keys_b64"][:3]:
            s.vault("vault-0", "operator", "unseal", k)
        assert s.ready("vault-0") is True and s.labels("vault-0")["vault-sealed"] == "false"
        wait_for(lambda: s.labels("vault-0")["vault-active"] == "true", what="active label")
        wait_for(lambda: s.changes >= before + 2, what="on_change for unseal and election")
        assert s.vault("vault-0", "status").returncode == 0
        assert s.vault("vault-1", "status").returncode == 2 and not s.ready("vault-1")


def test_pod_ip_change_after_restart_moves_leader_address(tmp_path):
    """§1: leader_address is the active node's api_addr = http://<POD_IP>:8200 (a restarted pod may get a
    new IP). Elections pick any eligible voter (at random, as raft's timers do): step the leaders down
    until vault-0 leads again (a stepped-down node sits out 10 s, so this ends)."""
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "election_seconds": "0.2"}) as s:
        root = s.vc.init_result["root_token"]
        for p in ("vault-0", "vault-1", "vault-2"):
            s.write_token(p, root)
        s.delete_pod("vault-0", new_ip="10.244.9.9")
        for k in s.vc.init_result["unseal_keys_b64"][:3]:
            s.vault("vault-0", "operator", "unseal", k)

        def leader():
            for p in ("vault-0", "vault-1", "vault-2"):
                if status(s, p).get("is_self"):
                    return p
            return None

        for _ in range(4):
            current = wait_for(leader, what="a leader")
            if current == "vault-0":
                break
            assert s.vault(current, "operator", "step-down").returncode == 0
            wait_for(lambda: leader() not in (None, current), what="a leader other than " + current)
        assert leader() == "vault-0"
        assert status(s, "vault-1")["leader_address"] == "http://10.244.9.9:8200"


# ---------------------------------------------------------------- TLS (docs/vault-cli.md §7, §4.3, §5, §10.4)
def test_tls_cluster(tmp_path):
    """§7 TLS: VAULT_ADDR https; the CA must be trusted (VAULT_CACERT / -ca-cert / -tls-skip-verify);
    §4 join under TLS needs an https leader address and -leader-ca-cert (PEM or @file) and a name the
    certificate covers; addendum: a snapshot from a standby fails (307 to the pod IP, not in the cert)."""
    with SimServer(tmp_path, replicas=3, tls=True, options={"preset": "unsealed"}) as s:
        keys = s.vc.init_result["unseal_keys_b64"]
        root = s.vc.init_result["root_token"]
        ca = s.vc.ca_cert_path
        assert status(s, "vault-0")["sealed"] is False
        r = s.vault("vault-0", "status", extra_env={"VAULT_CACERT": ""})
        assert r.returncode == 1 and r.stderr.decode() == (
            'Error checking seal status: Get "https://127.0.0.1:8200/v1/sys/seal-status": tls: failed to verify '
            "certificate: x509: certificate signed by unknown authority\n")
        assert s.vault("vault-0", "status", "-tls-skip-verify", extra_env={"VAULT_CACERT": ""}).returncode == 0
        assert s.vault("vault-0", "status", "-ca-cert=" + ca, extra_env={"VAULT_CACERT": ""}).returncode == 0
        r = s.vault("vault-0", "status", extra_env={"VAULT_ADDR": "http://127.0.0.1:8200"})
        assert r.returncode == 1 and r.stderr.decode().endswith(
            "Code: 400. Raw Message:\n\nClient sent an HTTP request to an HTTPS server.\n\n")
        r = s.vault("vault-0", "status", extra_env={"VAULT_CACERT": "/no/ca.crt"})
        assert (r.returncode, r.stderr) == (1, b"Error loading CA File: open /no/ca.crt: no such file or directory\n")
        failed = b"* failed to join raft cluster: failed to get raft challenge\n"
        for args in (["http://vault-0.vault-internal:8200"],
                     ["https://vault-0.vault-internal:8200"],                               # no CA given
                     ["-leader-ca-cert=" + ca, "https://vault-0.vault-internal:8200"],      # a path, not PEM
                     ["-leader-ca-cert=@" + ca, "https://10.244.1.17:8200"]):               # IP not in the cert
            r = s.vault("vault-1", "operator", "raft", "join", *args)
            assert r.returncode == 2 and r.stderr.endswith(failed), args
        # The x509 reason is only in the joining pod's log (docs/vault-cli.md §10.4).
        log = s.call(s.vc.logs, "vault-1")
        assert "core: failed to get raft challenge: leader_addr=https://10.244.1.17:8200" in log
        assert "tls: failed to verify certificate: x509: certificate is valid for 127.0.0.1, not 10.244.1.17" in log
        assert "x509: certificate signed by unknown authority" in log
        pem = open(ca).read()
        # The API's leader_tls_servername (no CLI flag) through `vault write sys/storage/raft/join -`:
        r = s.vault("vault-1", "write", "-format=json", "sys/storage/raft/join", "-", input=json.dumps(
            {"leader_api_addr": "https://10.244.1.17:8200", "leader_ca_cert": pem,
             "leader_tls_servername": "vault-0.vault-internal"}).encode())
        assert r.returncode == 0 and jout(r)["data"] == {"joined": True}
        assert s.vault("vault-2", "operator", "raft", "join", "-leader-ca-cert=@" + ca,
                       "https://vault-0.vault-internal:8200").returncode == 0
        assert "attempting to join possible raft leader node" in s.call(s.vc.logs, "vault-2")
        for p in ("vault-1", "vault-2"):
            for k in keys[:3]:
                s.vault(p, "operator", "unseal", k)
            s.write_token(p, root)
        wait_for(lambda: not status(s, "vault-1")["sealed"], what="vault-1 joined")
        r = s.vault("vault-1", "operator", "raft", "snapshot", "save", "/dev/stdout")
        assert r.returncode == 2 and r.stdout == b""
        assert r.stderr.decode() == (
            'Error taking the snapshot: redirect failed: Get "https://10.244.1.17:8200/v1/sys/storage/raft/snapshot": '
            "tls: failed to verify certificate: x509: certificate is valid for 127.0.0.1, not 10.244.1.17\n")
    with SimServer(tmp_path / "san", replicas=2, tls=True, options={"preset": "ha", "tls_san_pod_ip": "true"}) as s:
        s.write_token("vault-1", s.vc.init_result["root_token"])
        assert s.vault("vault-1", "operator", "raft", "snapshot", "save", "/dev/stdout").returncode == 0


# ---------------------------------------------------------------- OpenBao (docs/vault-cli.md §8)
def test_openbao_mode(tmp_path):
    """§8: `bao` binary (+ `vault` symlink), BAO_* with VAULT_* fallback and BAO_ADDR precedence (even
    empty), `s.` root tokens, status without removed_from_cluster, with commit_date, active_time
    omitted when zero, openbao-* labels, same list-peers shape."""
    with SimServer(tmp_path, replicas=2, openbao=True, namespace="openbao", release="openbao",
                   options={"preset": "ha"}) as s:
        root = s.vc.init_result["root_token"]
        assert root.startswith("s.") and len(root) == 26
        st = jout(s.vault("openbao-1", "status", "-format=json", binary="bao"))
        assert "removed_from_cluster" not in st and "active_time" not in st and "is_self" not in st
        assert st["commit_date"] and st["build_date"] and st["version"] == "2.6.2"
        st0 = jout(s.vault("openbao-0", "status", "-format=json"))          # through the vault symlink
        assert st0["is_self"] is True and st0["active_time"] != "0001-01-01T00:00:00Z"
        assert s.labels("openbao-0") == {"openbao-active": "true", "openbao-sealed": "false",
                                         "openbao-initialized": "true", "openbao-perf-standby": "false",
                                         "openbao-version": "2.6.2"}
        # BAO_ADDR wins over VAULT_ADDR; VAULT_* is the fallback; an empty BAO_ADDR means the default.
        r = s.vault("openbao-0", "status", binary="bao", extra_env={"VAULT_ADDR": "http://127.0.0.1:1"})
        assert r.returncode == 0
        env, _ = s.env("openbao-0")
        r = s.vault("openbao-0", "status", binary="bao",
                    extra_env={"BAO_ADDR": "", "VAULT_ADDR": env["BAO_ADDR"]})
        assert r.returncode == 1 and b"http: server gave HTTP response to HTTPS client" in r.stderr
        r = s.vault("openbao-0", "operator", "raft", "list-peers", "-format=json", binary="bao",
                    extra_env={"BAO_TOKEN": root, "VAULT_TOKEN": "wrong"})
        assert r.returncode == 0 and jout(r)["data"]["config"]["servers"][0]["address"] == \
            "openbao-0.openbao-internal:8201"
        r = s.vault("openbao-0", "operator", "raft", "list-peers", binary="bao", extra_env={"VAULT_TOKEN": root})
        assert r.returncode == 0
        auto = jout(s.vault("openbao-0", "operator", "raft", "autopilot", "state", "-format=json", binary="bao",
                            extra_env={"BAO_TOKEN": root}))
        assert "RedundancyZones" not in auto and "RedundancyZone" not in next(iter(auto["Servers"].values()))
        r = s.vault("openbao-0", "version", binary="bao")
        assert r.stdout.startswith(b"OpenBao v2.6.2 (")
        s.delete_pod("openbao-1")
        r = s.vault("openbao-1", "operator", "unseal", "-non-interactive", binary="bao")
        assert r.returncode == 1 and b"-non-interactive" in r.stderr


def test_openbao_allows_permanent_non_voters(tmp_path):
    """§8: `-non-voter` is allowed in OpenBao (CE Vault answers 400); such a node is never promoted."""
    with SimServer(tmp_path, replicas=2, openbao=True, namespace="openbao", release="openbao",
                   options={"preset": "unsealed", "stabilization_seconds": "0.3"}) as s:
        r = s.vault("openbao-1", "operator", "raft", "join", "-non-voter", "http://openbao-0.openbao-internal:8200",
                    binary="bao")
        assert r.returncode == 0, r.stderr
        for k in s.vc.init_result["unseal_keys_b64"][:3]:
            s.vault("openbao-1", "operator", "unseal", k, binary="bao")
        wait_for(lambda: not status(s, "openbao-1")["sealed"], what="joined")
        time.sleep(0.8)
        r = s.vault("openbao-0", "operator", "raft", "list-peers", "-format=json", binary="bao",
                    extra_env={"BAO_TOKEN": s.vc.init_result["root_token"]})
        assert [p["voter"] for p in jout(r)["data"]["config"]["servers"]] == [True, False]


# ---------------------------------------------------------------- versions (docs/vault-cli.md §1, §3)
def test_version_dependent_fields(tmp_path):
    """§1: removed_from_cluster only from 1.19; §3: write sys/unseal wraps the body in .data only since 1.13;
    hvs. tokens since 1.10 (s. before)."""
    with SimServer(tmp_path / "a", replicas=1, version="1.18.5", options={"preset": "initialized"}) as s:
        st = status(s, "vault-0")
        assert "removed_from_cluster" not in st and st["version"] == "1.18.5"
        assert "Removed From Cluster" not in s.vault("vault-0", "status").stdout.decode()
    with SimServer(tmp_path / "b", replicas=1, version="1.12.3", options={"preset": "initialized"}) as s:
        k = s.vc.init_result["unseal_keys_b64"][0]
        doc = jout(s.vault("vault-0", "write", "-format=json", "sys/unseal", "key=" + k))
        assert doc["data"] is None
    with SimServer(tmp_path / "c", replicas=1, version="1.9.10", options={"preset": "initialized"}) as s:
        assert s.vc.init_result["root_token"].startswith("s.")


# ---------------------------------------------------------------- PGP init (docs/vault-cli.md §2)
def test_init_with_pgp_keys_encrypts_shares_and_root_token(tmp_path):
    """§2: -pgp-keys are file paths on the pod, their count must equal -key-shares, the shares come back
    as base64 PGP ciphertext that decrypts to working unseal keys; -root-token-pgp-key likewise."""
    with SimServer(tmp_path, replicas=2) as s:
        keys = [pgp.make_test_key("user%d <u%d@example.invalid>" % (i, i)) for i in range(3)]
        paths = []
        for i, (public, _) in enumerate(keys):
            p = os.path.join(s.cwd("vault-0"), "k%d.gpg" % i)
            with open(p, "wb") as f:
                f.write(public if i != 1 else base64.b64encode(public))     # binary or base64 files
            paths.append(p)
        r = s.vault("vault-0", "operator", "init", "-format=json", "-key-shares=3", "-key-threshold=2",
                    "-pgp-keys=" + ",".join(paths[:2]))
        assert r.returncode == 2 and r.stderr.decode().endswith(
            "* invalid seal configuration: count mismatch between number of provided PGP keys and number of shares\n")
        r = s.vault("vault-0", "operator", "init", "-pgp-keys=/nope.gpg")
        assert (r.returncode, r.stderr) == (1, b'invalid value "/nope.gpg" for flag -pgp-keys: open /nope.gpg: '
                                               b"no such file or directory\n")
        r = s.vault("vault-0", "operator", "init", "-format=json", "-key-shares=3", "-key-threshold=2",
                    "-pgp-keys=" + ",".join(paths), "-root-token-pgp-key=" + paths[0])
        assert r.returncode == 0, r.stderr
        out = jout(r)
        shares = [pgp.decrypt(priv, base64.b64decode(b)) for (_, priv), b in zip(keys, out["unseal_keys_b64"])]
        assert all(len(x) == 33 for x in shares)
        assert [bytes.fromhex(h) for h in out["unseal_keys_hex"]] == [base64.b64decode(b) for b in out["unseal_keys_b64"]]
        root = pgp.decrypt(keys[0][1], base64.b64decode(out["root_token"])).decode()
        assert root.startswith("hvs.")
        for sh in shares[1:]:
            s.vault("vault-0", "operator", "unseal", base64.b64encode(sh).decode())
        assert status(s, "vault-0")["sealed"] is False
        junk = os.path.join(s.cwd("vault-1"), "junk")
        with open(junk, "w") as f:
            f.write("not a key")
        r = s.vault("vault-1", "operator", "init", "-key-shares=1", "-key-threshold=1", "-pgp-keys=" + junk)
        assert r.returncode == 2 and "error parsing given PGP key: openpgp: invalid data" in r.stderr.decode()


# ---------------------------------------------------------------- presets and several releases
def test_presets_write_keys_and_set_state(tmp_path):
    """Option preset: initialized / unsealed / ha / sealed-ha, keys in <workdir>/vault-init.json (machineInit)."""
    with SimServer(tmp_path / "a", replicas=3, options={"preset": "sealed-ha", "election_seconds": "0.2"}) as s:
        saved = json.load(open(os.path.join(s.vc.workdir, "vault-init.json")))
        assert saved == s.vc.init_result and saved["unseal_threshold"] == 3
        assert all(status(s, p)["sealed"] and status(s, p)["initialized"] for p in ("vault-0", "vault-1", "vault-2"))
        for p in ("vault-1", "vault-2"):
            for k in saved["unseal_keys_b64"][:3]:
                s.vault(p, "operator", "unseal", k)
        wait_for(lambda: [p for p in ("vault-1", "vault-2") if status(s, p).get("is_self")], what="leader")


def test_two_releases_share_one_server(tmp_path):
    """Contract: routes() of several VaultClusters (namespaces/releases) coexist in one aiohttp app."""
    async def main():
        a = VaultCluster(namespace="team-a", release="vault", fullname="vault", replicas=1,
                         workdir=str(tmp_path / "a"), options={"preset": "initialized"})
        b = VaultCluster(namespace="team-a", release="vault-2", fullname="vault-2", replicas=1,
                         workdir=str(tmp_path / "b"))
        app = web.Application()
        app.add_routes(a.routes())
        app.add_routes(b.routes())
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        import aiohttp
        async with aiohttp.ClientSession() as c:
            ra = await (await c.get("http://127.0.0.1:%d/_vault/team-a/vault-0/v1/sys/seal-status" % port)).json()
            rb = await (await c.get("http://127.0.0.1:%d/_vault/team-a/vault-2-0/v1/sys/seal-status" % port)).json()
            missing = await c.get("http://127.0.0.1:%d/_vault/team-b/vault-0/v1/sys/seal-status" % port)
        await runner.cleanup()
        return ra, rb, missing.status
    ra, rb, missing = asyncio.run(main())
    assert ra["initialized"] is True and rb["initialized"] is False and missing == 404


# ---------------------------------------------------------------- what doctor reads (issue 13)
def test_autopilot_get_config_json_and_the_silent_failure(tmp_path):
    """command/operator_raft_autopilot_get_config.go: api.AutopilotConfig.MarshalJSON (a Go map:
    sorted keys, durations as strings); a failed request prints nothing and exits 0."""
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "stabilization_seconds": "2",
                                                  "autopilot_min_quorum": "3"}) as s:
        r = s.vault("vault-0", "operator", "raft", "autopilot", "get-config", "-format=json")
        assert r.returncode == 0 and r.stdout == b"" and r.stderr == b""  # no token
        s.write_token("vault-0", s.vc.init_result["root_token"])
        r = s.vault("vault-0", "operator", "raft", "autopilot", "get-config", "-format=json")
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode() == (
            '{\n  "cleanup_dead_servers": false,\n'
            '  "dead_server_last_contact_threshold": "24h0m0s",\n'
            '  "disable_upgrade_migration": false,\n  "last_contact_threshold": "10s",\n'
            '  "max_trailing_logs": 1000,\n  "min_quorum": 3,\n'
            '  "server_stabilization_time": "2s"\n}\n')
        r = s.vault("vault-0", "operator", "raft", "autopilot", "get-config")
        assert b"Cleanup Dead Servers                  false" in r.stdout


def test_presets_with_non_voters_dead_peers_and_applied_lag(tmp_path):
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "non_voters": "vault-2",
                                                  "dead_peers": "vault-3",
                                                  "applied_lag": "vault-1:5000"}) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        ap = jout(s.vault("vault-0", "operator", "raft", "autopilot", "state", "-format=json"))
        by = {v["Address"].split(".")[0]: v for v in ap["Servers"].values()}
        assert by["vault-2"]["Status"] == "non-voter"
        assert by["vault-3"]["NodeStatus"] == "failed"
        time.sleep(2.5)  # past the stabilization time: still a non-voter
        ap = jout(s.vault("vault-0", "operator", "raft", "autopilot", "state", "-format=json"))
        assert {v["Address"].split(".")[0]: v["Status"] for v in ap["Servers"].values()}["vault-2"] \
            == "non-voter"
        st0, st1 = status(s, "vault-0"), status(s, "vault-1")
        assert st0["raft_applied_index"] - st1["raft_applied_index"] == 5000


def test_pod_versions(tmp_path):
    with SimServer(tmp_path, replicas=2, options={"preset": "ha",
                                                  "pod_versions": "vault-1:1.20.0+ent"}) as s:
        assert status(s, "vault-0")["version"] == "1.21.2"
        assert status(s, "vault-1")["version"] == "1.20.0+ent"
        assert s.labels("vault-1")["vault-version"] == "1.20.0-ent"


def test_auto_unseal_seal_type_and_an_unreachable_seal(tmp_path):
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "seal_type": "transit"}) as s:
        st = status(s, "vault-1")
        assert (st["type"], st["recovery_seal"], st["recovery_seal_type"], st["sealed"]) == \
            ("transit", True, "shamir", False)
        s.delete_pod("vault-1")
        assert status(s, "vault-1")["sealed"] is False  # unsealed itself at start
        s.call(s.vc.set_seal_available, False)
        s.delete_pod("vault-2")
        r = s.vault("vault-2", "status", "-format=json")
        assert r.returncode == 2 and jout(r)["sealed"] is True
        assert "seal unavailable" in s.call(s.vc.logs, "vault-2")
        s.call(s.vc.set_seal_available, True)
        assert status(s, "vault-2")["sealed"] is False


def test_reissued_certificates_change_what_joins_see(tmp_path):
    from cryptography import x509
    with SimServer(tmp_path, replicas=2, tls=True, options={"preset": "ha"}) as s:
        pem = s.call(s.vc.issue_node_cert, "vault-0")
        cert = x509.load_pem_x509_certificate(pem.encode())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [
            "*.vault-internal", "*.vault-internal.vault.svc.cluster.local", "*.vault"]
        s.call(s.vc.issue_node_cert, "vault-0", ["vault.example.com"], ["127.0.0.1"])
        err = s.vc.model.tls_error(s.vc.model.node("vault-0"), "vault-0.vault-internal", "https",
                                   ca_pems=[open(s.vc.ca_cert_path).read()])
        assert err == ("tls: failed to verify certificate: x509: certificate is valid for "
                       "vault.example.com, not vault-0.vault-internal")
