"""Lost-quorum recovery in the simulator (docs/vault-cli.md §10.9 "Lost-quorum recovery";
physical/raft/raft.go SetupCluster): node-id in the data folder, peers.json read when raft starts
at unseal, Vault's parse rules and texts, the file deleted afterwards, the raft library's
configuration lines in the server log, data and index kept."""
import json
import os
import time

from vaultsim.model import VAULT_GID, VAULT_UID
from vaultsim.testing import SimServer, jout, status, wait_for


def write_peers(s, pod, content):
    path = os.path.join(s.vc.data_path(pod), "raft", "peers.json")
    with open(path, "w") as f:
        f.write(content)
    if os.geteuid() == 0:
        os.chown(path, VAULT_UID, VAULT_GID)
    return path


def unseal(s, pod):
    out = []
    for k in s.vc.init_result["unseal_keys_b64"][:3]:
        out.append(s.vault(pod, "operator", "unseal", "-format=json", k))
    return out[-1]


def lost_two(s):
    s.delete_pod("vault-1")
    s.delete_pod("vault-2")
    wait_for(lambda: not status(s, "vault-0").get("is_self"), 5, what="leader lease lost")


def test_node_id_file_and_raft_folder(tmp_path):
    """Chart defaults: a UUID in <data>/node-id and raft's folder once the node holds raft data."""
    with SimServer(tmp_path, replicas=2, options={"preset": "ha"}) as s:
        for pod in ("vault-0", "vault-1"):
            with open(os.path.join(s.vc.data_path(pod), "node-id")) as f:
                assert f.read() == s.vc.node_id(pod)
            assert os.path.isdir(os.path.join(s.vc.data_path(pod), "raft"))
    with SimServer(tmp_path / "named", replicas=2, set_node_id=True) as s:
        assert s.vc.node_id("vault-1") == "vault-1"
        assert not os.path.exists(os.path.join(s.vc.data_path("vault-1"), "node-id"))
        assert not os.path.exists(os.path.join(s.vc.data_path("vault-1"), "raft"))


def test_configuration_lines_in_the_log(tmp_path):
    """hashicorp/raft prints the whole configuration at raft start and, on the leader, at each change;
    a joined follower starts raft with an empty one."""
    with SimServer(tmp_path, replicas=3, options={"preset": "ha"}) as s:
        ids = [s.vc.node_id("vault-%d" % i) for i in range(3)]
        log0 = s.call(s.vc.logs, "vault-0")
        assert ('storage.raft: initial configuration: index=1 servers="[{Suffrage:Voter ID:%s '
                'Address:vault-0.vault-internal:8201}]"' % ids[0]) in log0
        assert ("storage.raft: updating configuration: command=AddVoter server-id=%s "
                "server-addr=vault-2.vault-internal:8201 servers=\"[{Suffrage:Voter ID:%s "
                "Address:vault-0.vault-internal:8201} {Suffrage:Voter ID:%s Address:vault-1.vault-internal:8201} "
                "{Suffrage:Voter ID:%s Address:vault-2.vault-internal:8201}]\"" % (ids[2], ids[0], ids[1], ids[2])) in log0
        assert "storage.raft: initial configuration: index=0 servers=[]" in s.call(s.vc.logs, "vault-1")


def test_peers_json_recovers_exactly_that_list_and_is_deleted(tmp_path):
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "election_seconds": "0.3"}) as s:
        root = s.vc.init_result["root_token"]
        s.write_token("vault-0", root)
        before = status(s, "vault-0")["raft_committed_index"]
        assert s.vault("vault-0", "write", "cubbyhole/app", "v=kept").returncode == 0
        lost_two(s)
        nid = s.vc.node_id("vault-0")
        path = write_peers(s, "vault-0", json.dumps(
            [{"id": nid, "address": "vault-0.vault-internal:8201", "non_voter": False}]))
        # An unsealed node's raft runs already: the file waits for the next start.
        time.sleep(0.5)
        assert os.path.exists(path) and not status(s, "vault-0").get("is_self")
        s.delete_pod("vault-0")
        assert jout(unseal(s, "vault-0"))["sealed"] is False
        wait_for(lambda: status(s, "vault-0").get("is_self"), 5, what="vault-0 active")
        assert not os.path.exists(path)
        s.write_token("vault-0", root)
        servers = jout(s.vault("vault-0", "operator", "raft", "list-peers", "-format=json"))["data"]["config"]["servers"]
        assert [(p["node_id"], p["address"], p["voter"]) for p in servers] == \
            [(nid, "vault-0.vault-internal:8201", True)]
        assert status(s, "vault-0")["raft_committed_index"] > before
        assert s.vault("vault-0", "read", "-field=v", "cubbyhole/app").stdout == b"kept"
        log = s.call(s.vc.logs, "vault-0")
        assert "storage.raft: raft recovery initiated: recovery_file=peers.json\n" in log
        assert ('storage.raft: raft recovery found new config: config="{[{Voter %s '
                'vault-0.vault-internal:8201}]}"' % nid) in log
        assert "storage.raft: raft recovery deleted peers.json\n" in log


def test_peers_json_rules(tmp_path):
    """raft.ReadConfigJSON, checkConfiguration and Vault's non_voter rule: the unseal fails, the node
    stays sealed and the file stays."""
    cases = [
        ("", "raft recovery failed to parse peers.json: EOF"),
        ("[{\"id\": \"a\",", "raft recovery failed to parse peers.json: unexpected EOF"),
        ("{\"id\": \"a\"}", "raft recovery failed to parse peers.json: json: cannot unmarshal object "
                            "into Go value of type []raft.configEntry"),
        ("[{\"id\": \"\", \"address\": \"x:8201\"}]", "raft recovery failed to parse peers.json: empty ID "
                                                    "in configuration: {[{Voter  x:8201}]}"),
        ("[{\"id\": \"a\", \"address\": \"x:8201\"}, {\"id\": \"a\", \"address\": \"y:8201\"}]",
         "raft recovery failed to parse peers.json: found duplicate ID in configuration: a"),
        ("[{\"id\": \"a\", \"address\": \"x:8201\", \"non_voter\": true}]",
         "raft recovery failed to parse peers.json: need at least one voter in configuration: "
         "{[{Nonvoter a x:8201}]}"),
        ("[{\"id\": \"a\", \"address\": \"x:8201\"}, {\"id\": \"b\", \"address\": \"y:8201\", \"non_voter\": true}]",
         "raft recovery failed to parse configuration for node \"b\": setting `non_voter` is only "
         "supported in enterprise"),
    ]
    with SimServer(tmp_path, replicas=3, options={"preset": "ha", "election_seconds": "0.3"}) as s:
        lost_two(s)
        for content, message in cases:
            path = write_peers(s, "vault-0", content)
            s.delete_pod("vault-0")
            r = unseal(s, "vault-0")
            assert r.returncode == 2, content
            assert r.stderr.decode().endswith("* %s\n" % message), r.stderr
            assert status(s, "vault-0")["sealed"] is True and os.path.exists(path)
            assert "raft recovery initiated" in s.call(s.vc.logs, "vault-0")
        if os.geteuid() == 0:
            # written by root, readable only by root: the vault user cannot open it
            write_peers(s, "vault-0", "[]")
            os.chown(path, 0, 0)
            os.chmod(path, 0o600)
            s.delete_pod("vault-0")
            r = unseal(s, "vault-0")
            assert r.stderr.decode().endswith(
                "* raft recovery failed to parse peers.json: open /vault/data/raft/peers.json: "
                "permission denied\n"), r.stderr
