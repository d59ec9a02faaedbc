"""Raft behaviour of the simulator through the real CLI: join and the asynchronous end of a join,
autopilot promotion, list-peers/autopilot shapes, leader loss and elections, quorum, step-down,
remove-peer, node ids, second clusters.

Each test names the section of docs/vault-cli.md it checks."""
import re
import time

from vaultsim.testing import SimServer, jout, status, wait_for

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def peers(s, pod="vault-0"):
    r = s.vault(pod, "operator", "raft", "list-peers", "-format=json")
    assert r.returncode == 0, r.stderr
    return jout(r)["data"]["config"]["servers"]


def active_pods(s, pods):
    return [p for p in pods if status(s, p).get("is_self")]


def test_join_unseal_async_window_and_promotion(tmp_path):
    """§4 join + §3 'Raft join + Shamir' + addendum (non-voter until stabilization):
    - a joined, still sealed node reports initialized:true, sealed:true and t/n from the leader;
    - the threshold key answers sealed:true progress:0, the node unseals shortly after;
    - list-peers shows it as a non-voter, promoted to voter after stabilization_seconds."""
    # Stabilization long enough that the non-voter is still seen while two test suites share
    # the machine (every CLI call below then takes seconds); the promotion wait allows for it.
    with SimServer(tmp_path, replicas=2, options={"stabilization_seconds": "40", "join_unseal_seconds": "0.4"}) as s:
        init = jout(s.vault("vault-0", "operator", "init", "-format=json", "-key-shares=3", "-key-threshold=2"))
        keys = init["unseal_keys_b64"]
        for k in keys[:2]:
            s.vault("vault-0", "operator", "unseal", k)
        s.write_token("vault-0", init["root_token"])
        wait_for(lambda: status(s, "vault-0").get("is_self"), what="vault-0 active")
        r = s.vault("vault-1", "operator", "raft", "join", "-format=json", "http://vault-0.vault-internal:8200")
        assert (r.returncode, jout(r)) == (0, {"joined": True})
        st = status(s, "vault-1")
        assert st["initialized"] is True and st["sealed"] is True and (st["t"], st["n"]) == (2, 3)
        assert s.vault("vault-1", "operator", "unseal", keys[2]).returncode == 0
        r = s.vault("vault-1", "operator", "unseal", "-format=json", keys[0])
        last = jout(r)
        assert r.returncode == 0 and last["sealed"] is True and last["progress"] == 0
        joined = [p for p in peers(s) if p["address"] == "vault-1.vault-internal:8201"][0]
        assert joined["voter"] is False and joined["leader"] is False
        wait_for(lambda: not status(s, "vault-1")["sealed"], what="vault-1 unsealed")
        st = status(s, "vault-1")
        assert st["leader_cluster_address"] == "https://vault-0.vault-internal:8201" and "is_self" not in st
        auto = jout(s.vault("vault-0", "operator", "raft", "autopilot", "state", "-format=json"))
        nid = joined["node_id"]
        assert auto["Servers"][nid]["Status"] == "non-voter" and nid not in auto["Voters"]
        wait_for(lambda: all(p["voter"] for p in peers(s)), 120, what="promotion")
        auto = jout(s.vault("vault-0", "operator", "raft", "autopilot", "state", "-format=json"))
        assert auto["Servers"][nid]["Status"] == "voter" and nid in auto["Voters"]


def test_list_peers_and_autopilot_shapes(tmp_path):
    """§4 list-peers: whole api.Secret, servers {address, leader, node_id, protocol_version "3", voter},
    UUID node ids by default; table columns. autopilot state: CamelCase, all fields, nulls, pretty default."""
    with SimServer(tmp_path, replicas=3, options={"preset": "ha"}) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        s.write_token("vault-1", s.vc.init_result["root_token"])
        doc = jout(s.vault("vault-0", "operator", "raft", "list-peers", "-format=json"))
        assert list(doc) == ["request_id", "lease_id", "lease_duration", "renewable", "data", "warnings",
                             "mount_type"]
        assert doc["mount_type"] == "system" and doc["warnings"] is None and UUID.match(doc["request_id"])
        cfg = doc["data"]["config"]
        assert list(cfg) == ["index", "servers"] and cfg["index"] > 0
        for srv in cfg["servers"]:
            assert list(srv) == ["address", "leader", "node_id", "protocol_version", "voter"]
            assert srv["protocol_version"] == "3" and UUID.match(srv["node_id"])
        table = s.vault("vault-0", "operator", "raft", "list-peers").stdout.decode().splitlines()
        assert table[0].split() == ["Node", "Address", "State", "Voter"]
        assert table[1].split() == ["----", "-------", "-----", "-----"]
        assert table[2].split()[1:] == ["vault-0.vault-internal:8201", "leader", "true"]
        assert table[3].split()[1:] == ["vault-1.vault-internal:8201", "follower", "true"]

        st = jout(s.vault("vault-1", "operator", "raft", "autopilot", "state", "-format=json"))
        assert list(st) == ["Healthy", "FailureTolerance", "Servers", "Leader", "Voters", "NonVoters",
                            "RedundancyZones", "Upgrade", "OptimisticFailureTolerance"]
        assert st["Healthy"] is True and st["FailureTolerance"] == 1
        assert st["NonVoters"] is None and st["RedundancyZones"] is None and st["Upgrade"] is None
        leader_id = cfg["servers"][0]["node_id"]
        assert st["Leader"] == leader_id and len(st["Voters"]) == 3
        srv = st["Servers"][leader_id]
        assert list(srv) == ["ID", "Name", "Address", "NodeStatus", "LastContact", "LastTerm", "LastIndex",
                             "Healthy", "StableSince", "Status", "Version", "UpgradeVersion", "RedundancyZone",
                             "NodeType"]
        assert srv["Status"] == "leader" and srv["LastContact"] == "0s" and srv["NodeStatus"] == "alive"
        assert srv["NodeType"] == "voter" and srv["Version"] == "1.21.2"
        pretty = s.vault("vault-0", "operator", "raft", "autopilot", "state").stdout.decode()
        assert pretty.startswith("Healthy:                         true\nFailure Tolerance:               1\n")
        assert "      Status:            leader\n" in pretty


def test_node_ids_are_persisted_uuids_or_pod_names(tmp_path):
    """§4 node_id: random UUIDs generated once into the data dir; pod names with setNodeId (§7)."""
    with SimServer(tmp_path / "a", replicas=2) as s:
        first = s.vc.node_id("vault-0")
        assert UUID.match(first)
    with SimServer(tmp_path / "a", replicas=2) as s:
        assert s.vc.node_id("vault-0") == first            # same volume, same id
    with SimServer(tmp_path / "b", replicas=3, set_node_id=True, options={"preset": "ha"}) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        assert [p["node_id"] for p in peers(s)] == ["vault-0", "vault-1", "vault-2"]


def test_join_preconditions_and_failures(tmp_path):
    """§4 join: unsealed node -> 500 `node must be sealed before joining`; initialized sealed node ->
    joined:true no-op; unknown/unreachable leader -> `failed to join raft cluster: failed to get raft
    challenge`, exit 2; -retry returns joined:false at once; -non-voter is Enterprise only (400)."""
    with SimServer(tmp_path, replicas=3, options={"preset": "unsealed", "retry_join_seconds": "0.3"}) as s:
        r = s.vault("vault-0", "operator", "raft", "join", "http://vault-1.vault-internal:8200")
        assert r.returncode == 2 and r.stderr.decode().endswith("Code: 500. Errors:\n\n* node must be sealed before joining\n")
        s.delete_pod("vault-0")
        r = s.vault("vault-0", "operator", "raft", "join", "-format=json", "http://nowhere:8200")
        assert (r.returncode, jout(r)) == (0, {"joined": True})          # already initialized: no-op
        for k in s.vc.init_result["unseal_keys_b64"][:3]:
            s.vault("vault-0", "operator", "unseal", k)
        wait_for(lambda: status(s, "vault-0").get("is_self"), what="vault-0 active again")
        expected = ("Error joining the node to the Raft cluster: Error making API request.\n\n"
                    "URL: POST http://127.0.0.1:8200/v1/sys/storage/raft/join\nCode: 500. Errors:\n\n"
                    "* failed to join raft cluster: failed to get raft challenge\n")
        for addr in ("http://vault-9.vault-internal:8200", "http://vault-0.vault-internal:8201",
                     "https://vault-0.vault-internal:8200", "http://no.such.host:8200", ""):
            args = [addr] if addr else []
            r = s.vault("vault-1", "operator", "raft", "join", *args)
            assert (r.returncode, r.stderr.decode()) == (2, expected), addr
        assert status(s, "vault-1")["initialized"] is False
        r = s.vault("vault-1", "operator", "raft", "join", "-non-voter", "http://vault-0.vault-internal:8200")
        assert r.returncode == 2 and r.stderr.decode().endswith("* non-voting nodes not allowed\n")
        r = s.vault("vault-1", "operator", "raft", "join", "-retry", "-format=json", "http://vault-0.vault-internal:8200")
        assert (r.returncode, jout(r)) == (0, {"joined": False})
        wait_for(lambda: status(s, "vault-1")["initialized"], what="retried join")
        # Joining through any unsealed member works (the challenge is forwarded to the active node).
        r = s.vault("vault-2", "operator", "raft", "join", "http://%s:8200" % "10.244.1.17")
        assert r.returncode == 0


def test_join_completion_needs_the_existing_clusters_keys(tmp_path):
    """§4: the join completes only when the node is unsealed with the EXISTING cluster's keys."""
    with SimServer(tmp_path, replicas=3, options={"preset": "unsealed"}) as s:
        other = jout(s.vault("vault-2", "operator", "init", "-format=json"))   # a second, independent cluster
        assert s.vault("vault-1", "operator", "raft", "join", "http://vault-0.vault-internal:8200").returncode == 0
        for k in other["unseal_keys_b64"][:2]:
            assert s.vault("vault-1", "operator", "unseal", k).returncode == 0
        r = s.vault("vault-1", "operator", "unseal", other["unseal_keys_b64"][2])
        assert r.returncode == 2 and "message authentication failed" in r.stderr.decode()
        st = status(s, "vault-1")
        assert st["sealed"] and st["progress"] == 0
        for k in s.vc.init_result["unseal_keys_b64"][:3]:
            s.vault("vault-1", "operator", "unseal", k)
        wait_for(lambda: not status(s, "vault-1")["sealed"], what="vault-1 joined")
        assert status(s, "vault-1")["cluster_id"] == status(s, "vault-0")["cluster_id"]
        assert status(s, "vault-2").get("cluster_id") is None      # still sealed, its own cluster


def test_leader_pod_delete_elects_another_unsealed_voter(tmp_path):
    """Brief + §1/§7: a deleted pod comes back sealed but initialized and still a member; when it was
    the leader another unsealed voter becomes active after the election delay; labels follow."""
    # An election long enough to be seen by a CLI call on a machine busy with other suites.
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "election_seconds": "15"}) as s:
        s.write_token("vault-1", s.vc.init_result["root_token"])
        assert s.labels("vault-0")["vault-active"] == "true"
        before = s.changes
        s.delete_pod("vault-0", new_ip="10.244.1.99")
        st = status(s, "vault-1")
        assert "leader_address" not in st and "is_self" not in st          # during the election
        new = wait_for(lambda: active_pods(s, ["vault-1", "vault-2"]), what="new leader")
        assert len(new) == 1
        st0 = status(s, "vault-0")
        assert st0["sealed"] and st0["initialized"]
        assert s.labels("vault-0")["vault-sealed"] == "true" and not s.ready("vault-0")
        assert s.labels(new[0])["vault-active"] == "true" and s.changes > before
        addrs = [p["address"] for p in peers(s, "vault-1")]
        assert "vault-0.vault-internal:8201" in addrs
        assert status(s, "vault-2")["leader_cluster_address"] == "https://%s.vault-internal:8201" % new[0]
        for k in s.vc.init_result["unseal_keys_b64"][2:5]:
            s.vault("vault-0", "operator", "unseal", k)
        st0 = status(s, "vault-0")
        assert st0["sealed"] is False and st0["leader_address"] == status(s, new[0])["leader_address"]


def test_no_quorum_means_no_leader(tmp_path):
    """Brief: leader deleted and only 1 of 3 voters unsealed -> no election; standbys report no leader
    and forwarded requests fail; unsealing a second voter restores a leader."""
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "election_seconds": "0.3"}) as s:
        s.write_token("vault-2", s.vc.init_result["root_token"])
        s.delete_pod("vault-0")
        s.delete_pod("vault-1")
        time.sleep(1.0)
        st = status(s, "vault-2")
        assert st["sealed"] is False and "is_self" not in st and "leader_address" not in st
        table = s.vault("vault-2", "status").stdout.decode()
        assert "Active Node Address     <none>" in table
        r = s.vault("vault-2", "operator", "raft", "list-peers")
        assert r.returncode == 2 and r.stderr.decode().endswith(
            "* local node not active but active cluster node not found\n")
        for k in s.vc.init_result["unseal_keys_b64"][:3]:
            s.vault("vault-1", "operator", "unseal", k)
        wait_for(lambda: active_pods(s, ["vault-1", "vault-2"]), what="leader after quorum")


def test_leader_steps_down_when_it_loses_quorum(tmp_path):
    """Raft: a leader that cannot reach a majority of voters stops being active."""
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "election_seconds": "0.3"}) as s:
        s.delete_pod("vault-1")
        s.delete_pod("vault-2")
        wait_for(lambda: not status(s, "vault-0").get("is_self"), what="leader lease lost")
        assert s.labels("vault-0")["vault-active"] == "false"


def test_five_replicas_failure_tolerance(tmp_path):
    """Options: replicas=5 -> FailureTolerance 2; two pods down still leave a leader."""
    with SimServer(tmp_path, replicas=5, options={"preset": "ha", "election_seconds": "0.3"}) as s:
        s.write_token("vault-4", s.vc.init_result["root_token"])
        st = jout(s.vault("vault-4", "operator", "raft", "autopilot", "state", "-format=json"))
        assert st["FailureTolerance"] == 2 and len(st["Voters"]) == 5
        s.delete_pod("vault-0")
        s.delete_pod("vault-1")
        wait_for(lambda: active_pods(s, ["vault-2", "vault-3", "vault-4"]), what="leader among 3 of 5")
        st = jout(s.vault("vault-4", "operator", "raft", "autopilot", "state", "-format=json"))
        assert st["FailureTolerance"] == 0 and st["Healthy"] is False
        down = [v for v in st["Servers"].values() if not v["Healthy"]]
        assert len(down) == 2 and all(v["NodeStatus"] == "failed" for v in down)


def test_step_down_is_forwarded_async_and_old_leader_sleeps(tmp_path):
    """§4 step-down: no -format flag (exit 1); forwarded to the active node from any pod; plain
    `Success! Stepped down: <VAULT_ADDR>`; asynchronous; the old leader sleeps before competing again."""
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "election_seconds": "0.3",
                                                  "stepdown_sleep_seconds": "2"}) as s:
        root = s.vc.init_result["root_token"]
        for p in ("vault-0", "vault-1", "vault-2"):
            s.write_token(p, root)
        r = s.vault("vault-2", "operator", "step-down", "-format=json")
        assert (r.returncode, r.stderr) == (1, b"flag provided but not defined: -format\n")
        r = s.vault("vault-2", "operator", "step-down")
        assert (r.returncode, r.stdout) == (0, b"Success! Stepped down: http://127.0.0.1:8200\n")
        assert status(s, "vault-0").get("is_self") is None
        new = wait_for(lambda: active_pods(s, ["vault-1", "vault-2"]), what="another leader")
        r = s.vault(new[0], "operator", "step-down", extra_env={"VAULT_TOKEN": "hvs.nope"})
        assert r.returncode == 2 and r.stderr.decode().endswith("* permission denied\n")
    # A sleep long enough to be seen by a CLI call on a machine busy with other suites.
    with SimServer(tmp_path / "one", replicas=1, options={"preset": "unsealed", "election_seconds": "0.1",
                                                          "stepdown_sleep_seconds": "15"}) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        t0 = time.monotonic()
        assert s.vault("vault-0", "operator", "step-down").returncode == 0
        assert not status(s, "vault-0").get("is_self")
        wait_for(lambda: status(s, "vault-0").get("is_self"), what="re-election after the sleep")
        assert time.monotonic() - t0 >= 14.9


def test_remove_peer_semantics(tmp_path):
    """§4 remove-peer: plain `Peer removed successfully!` even with -format=json; unknown id is a silent
    success; argument errors exit 1; the removed node reports removed_from_cluster:true (1.19+) and
    cannot be unsealed (500 `node was removed from a HA cluster`, §3 item 5)."""
    with SimServer(tmp_path, replicas=3, options={"preset": "ha"}) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        r = s.vault("vault-0", "operator", "raft", "remove-peer", "-format=json", "no-such-node")
        assert (r.returncode, r.stdout) == (0, b"Peer removed successfully!\n")
        r = s.vault("vault-0", "operator", "raft", "remove-peer")
        assert (r.returncode, r.stderr) == (1, b"Incorrect arguments (expected 1, got 0)\n")
        r = s.vault("vault-0", "operator", "raft", "remove-peer", " ")
        assert (r.returncode, r.stderr) == (1, b"Server id is required\n")
        victim = s.vc.node_id("vault-2")
        assert s.vault("vault-0", "operator", "raft", "remove-peer", victim).returncode == 0
        assert victim not in [p["node_id"] for p in peers(s)]
        st = status(s, "vault-2")
        assert st["removed_from_cluster"] is True and st["sealed"] is True
        r = s.vault("vault-2", "operator", "unseal", s.vc.init_result["unseal_keys_b64"][0])
        assert r.returncode == 2 and r.stderr.decode().endswith("Code: 500. Errors:\n\n* node was removed from a HA cluster\n")
        r = s.vault("vault-0", "operator", "raft", "remove-peer", victim, extra_env={"VAULT_TOKEN": "bad"})
        assert r.returncode == 2 and "Error removing the peer from raft cluster: " in r.stderr.decode()


def test_second_init_creates_an_independent_cluster(tmp_path):
    """§2: init on a fresh pod while another cluster exists creates a second cluster (own keys, id)."""
    with SimServer(tmp_path, replicas=3, options={"preset": "unsealed"}) as s:
        other = jout(s.vault("vault-1", "operator", "init", "-format=json"))
        for k in other["unseal_keys_b64"][:3]:
            s.vault("vault-1", "operator", "unseal", k)
        a, b = status(s, "vault-0"), status(s, "vault-1")
        assert a["cluster_id"] != b["cluster_id"] and a["cluster_name"] != b["cluster_name"]
        wait_for(lambda: status(s, "vault-1").get("is_self"), what="second cluster's leader")
        assert status(s, "vault-0").get("is_self")
        r = s.vault("vault-1", "operator", "raft", "list-peers", extra_env={"VAULT_TOKEN": other["root_token"]})
        assert r.returncode == 0 and "vault-0.vault-internal" not in r.stdout.decode()


def test_indexes_advance(tmp_path):
    """§1: raft_committed_index/raft_applied_index advance with cluster activity."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed"}) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        i0 = status(s, "vault-0")["raft_committed_index"]
        s.vault("vault-0", "write", "cubbyhole/x", "a=b")
        assert status(s, "vault-0")["raft_committed_index"] > i0
