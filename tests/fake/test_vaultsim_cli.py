"""The simulated `vault` CLI, run as a real process against a served VaultCluster:
status, init, unseal (argument, TTY prompt, `write sys/unseal`), tokens, formats, errors.

Each test names the section of docs/vault-cli.md it checks."""
import base64
import json
import os
import pty
import select
import subprocess
import termios
import time

import pytest

from vaultsim.testing import SimServer, bootstrap, jout, status

UNSEAL_URL = "URL: PUT http://127.0.0.1:8200/v1/sys/unseal\n"


@pytest.fixture
def sim(tmp_path):
    with SimServer(tmp_path, replicas=3) as s:
        yield s


def api_error(prefix, method, path, code, *errors):
    return ("%s: Error making API request.\n\nURL: %s http://127.0.0.1:8200/v1/%s\nCode: %d. Errors:\n\n%s\n"
            % (prefix, method, path, code, "".join("* %s" % e for e in errors)))


def init(s, pod="vault-0", *flags):
    r = s.vault(pod, "operator", "init", "-format=json", *flags)
    assert r.returncode == 0, r.stderr
    return jout(r)


# ---------------------------------------------------------------- status (docs/vault-cli.md §1)
def test_status_uninitialized_json_shape_and_exit_2(sim):
    """§1 'When Vault is not initialized': sealed, t/n 0, no cluster fields, ha_enabled masked, zero active_time, exit 2."""
    r = sim.vault("vault-0", "status", "-format=json")
    assert r.returncode == 2 and r.stderr == b""
    assert jout(r) == {
        "type": "shamir", "initialized": False, "sealed": True, "t": 0, "n": 0, "progress": 0, "nonce": "",
        "version": "1.21.2", "build_date": "2025-12-18T15:41:11Z", "migration": False, "recovery_seal": False,
        "storage_type": "raft", "removed_from_cluster": False, "ha_enabled": True,
        "active_time": "0001-01-01T00:00:00Z"}
    assert list(jout(r)) == ["type", "initialized", "sealed", "t", "n", "progress", "nonce", "version",
                             "build_date", "migration", "recovery_seal", "storage_type", "removed_from_cluster",
                             "ha_enabled", "active_time"]


def test_status_table_sealed_shows_progress_row(sim):
    """§1: table output of a sealed node has Initialized, Sealed and an 'Unseal Progress 0/0' row."""
    r = sim.vault("vault-0", "status")
    assert r.returncode == 2
    lines = r.stdout.decode().splitlines()
    assert lines[0].split() == ["Key", "Value"] and lines[1].split() == ["---", "-----"]
    rows = {line[:24].strip(): line[24:] for line in lines[2:]}
    assert rows["Initialized"] == "false" and rows["Sealed"] == "true"
    assert rows["Unseal Progress"] == "0/0" and rows["Unseal Nonce"] == "n/a"
    assert rows["HA Enabled"] == "true"


def test_status_roles_leader_standby_sealed(tmp_path):
    """§1 examples: is_self only on the active node; standbys have zero active_time and leader_* fields;
    raft indexes only when unsealed; sealed nodes exit 2 with ha_enabled true."""
    with SimServer(tmp_path, replicas=3, options={"preset": "ha"}) as s:
        leader = status(s, "vault-0")
        standby = status(s, "vault-1")
        assert leader["is_self"] is True and leader["active_time"] != "0001-01-01T00:00:00Z"
        assert "is_self" not in standby and standby["active_time"] == "0001-01-01T00:00:00Z"
        for st in (leader, standby):
            assert st["leader_address"] == "http://10.244.1.17:8200"          # the active POD_IP api_addr
            assert st["leader_cluster_address"] == "https://vault-0.vault-internal:8201"
            assert st["raft_committed_index"] > 0 and st["raft_applied_index"] == st["raft_committed_index"]
            assert st["cluster_name"].startswith("vault-cluster-") and len(st["cluster_id"]) == 36
        assert s.vault("vault-1", "status").returncode == 0
        s.delete_pod("vault-2")
        r = s.vault("vault-2", "status", "-format=json")
        sealed = jout(r)
        assert r.returncode == 2 and sealed["sealed"] and sealed["initialized"] and sealed["ha_enabled"]
        assert not {"raft_committed_index", "leader_address", "is_self", "cluster_name"} & set(sealed)
        table = s.vault("vault-1", "status").stdout.decode()
        assert "HA Mode                 standby" in table
        assert "Active Node Address     http://10.244.1.17:8200" in table


def test_status_connection_refused_exit_1(sim):
    """§1 exit codes: /sys/seal-status request failure -> `Error checking seal status: ...`, exit 1."""
    r = sim.vault("vault-0", "status", extra_env={"VAULT_ADDR": "http://127.0.0.1:8300"})
    assert r.returncode == 1
    assert r.stderr.decode() == ('Error checking seal status: Get "http://127.0.0.1:8300/v1/sys/seal-status": '
                                 "dial tcp 127.0.0.1:8300: connect: connection refused\n")


# ---------------------------------------------------------------- init (docs/vault-cli.md §2)
def test_init_json_machine_init_fields(sim):
    """§2: machineInit field names/order, 44/66-char shares, hvs. root token, node stays sealed."""
    out = init(sim)
    assert list(out) == ["unseal_keys_b64", "unseal_keys_hex", "unseal_shares", "unseal_threshold",
                         "recovery_keys_b64", "recovery_keys_hex", "recovery_keys_shares",
                         "recovery_keys_threshold", "root_token"]
    assert out["unseal_shares"] == 5 and out["unseal_threshold"] == 3
    assert len(out["unseal_keys_b64"]) == 5 and all(len(k) == 44 for k in out["unseal_keys_b64"])
    assert all(len(k) == 66 for k in out["unseal_keys_hex"])
    assert [base64.b64decode(b).hex() for b in out["unseal_keys_b64"]] == out["unseal_keys_hex"]
    assert out["recovery_keys_b64"] == [] and out["recovery_keys_hex"] == []
    assert out["recovery_keys_shares"] == 0 and out["recovery_keys_threshold"] == 0
    assert out["root_token"].startswith("hvs.") and len(out["root_token"]) == 28
    st = status(sim, "vault-0")
    assert st["initialized"] and st["sealed"] and (st["t"], st["n"]) == (3, 5)


def test_init_flags_aliases_and_single_share(sim):
    """§2: -n/-t aliases; with one share the key is the 32-byte key itself (no Shamir byte)."""
    out = init(sim, "vault-0", "-n", "1", "-t=1")
    assert out["unseal_shares"] == 1 and len(out["unseal_keys_hex"][0]) == 64
    r = sim.vault("vault-0", "operator", "unseal", "-format=json", out["unseal_keys_hex"][0])
    assert r.returncode == 0 and jout(r)["sealed"] is False


def test_init_status_flag_capitalised_key_and_exit_codes(sim):
    """§2 -status: {"Initialized": false} exit 2, {"Initialized": true} exit 0, table texts."""
    r = sim.vault("vault-0", "operator", "init", "-status", "-format=json")
    assert (r.returncode, jout(r)) == (2, {"Initialized": False})
    assert sim.vault("vault-0", "operator", "init", "-status").stdout == b"Vault is not initialized\n"
    init(sim)
    r = sim.vault("vault-0", "operator", "init", "-status", "-format=json")
    assert (r.returncode, r.stdout) == (0, b'{\n  "Initialized": true\n}\n')
    assert sim.vault("vault-0", "operator", "init", "-status").stdout == b"Vault is initialized\n"


def test_init_errors(sim):
    """§2: already initialized (400, exit 2), recovery flags on Shamir, bad seal config, extra args."""
    init(sim)
    r = sim.vault("vault-0", "operator", "init")
    assert r.returncode == 2
    assert r.stderr.decode() == api_error("Error initializing", "PUT", "sys/init", 400, "Vault is already initialized")
    r = sim.vault("vault-1", "operator", "init", "-recovery-shares=5", "-recovery-threshold=3")
    assert r.returncode == 2 and r.stderr.decode().endswith(
        "* parameters recovery_shares,recovery_threshold not applicable to seal type shamir\n")
    r = sim.vault("vault-1", "operator", "init", "-key-shares=3", "-key-threshold=4")
    assert r.returncode == 2 and r.stderr.decode().endswith(
        "* invalid seal configuration: threshold cannot be larger than shares\n")
    r = sim.vault("vault-1", "operator", "init", "-key-shares=3", "-key-threshold=1")
    assert r.stderr.decode().endswith("* invalid seal configuration: threshold must be greater than one for multiple shares\n")
    r = sim.vault("vault-1", "operator", "init", "extra")
    assert (r.returncode, r.stderr) == (1, b"Too many arguments (expected 0, got 1)\n")
    assert status(sim, "vault-1")["initialized"] is False


def test_init_table_output(sim):
    """§2: table output lists 'Unseal Key N:' (base64) and 'Initial Root Token:'."""
    r = sim.vault("vault-0", "operator", "init", "-key-shares=2", "-key-threshold=2")
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 0
    assert lines[0].startswith("Unseal Key 1: ") and len(lines[0]) == len("Unseal Key 1: ") + 44
    assert lines[1].startswith("Unseal Key 2: ") and lines[2] == ""
    assert lines[3].startswith("Initial Root Token: hvs.")
    assert "Vault initialized with 2 key shares and a key threshold of 2." in " ".join(lines)


# ---------------------------------------------------------------- unseal (docs/vault-cli.md §3)
def test_unseal_any_three_of_five_hex_or_base64_exit_0_while_sealed(sim):
    """§3: any threshold subset unseals; exit 0 even while still sealed; progress/nonce; hex or base64."""
    out = init(sim)
    nonce = None
    for i, idx in enumerate((4, 1, 2)):
        key = out["unseal_keys_hex"][idx] if i == 1 else out["unseal_keys_b64"][idx]
        r = sim.vault("vault-0", "operator", "unseal", "-format=json", key)
        assert r.returncode == 0, r.stderr
        st = jout(r)
        if i < 2:
            assert st["sealed"] and st["progress"] == i + 1 and len(st["nonce"]) == 36
            assert nonce in (None, st["nonce"])
            nonce = st["nonce"]
        else:
            assert not st["sealed"] and st["progress"] == 0 and st["nonce"] == ""
            assert st["cluster_name"] and st["cluster_id"]
    # Another subset after a restart (the pod comes back sealed, docs/vault-cli.md §1 readiness / pod restart).
    sim.delete_pod("vault-0")
    for idx in (0, 3, 2):
        r = sim.vault("vault-0", "operator", "unseal", out["unseal_keys_b64"][idx])
        assert r.returncode == 0
    assert status(sim, "vault-0")["sealed"] is False


def test_unseal_duplicate_share_is_ignored(sim):
    """§3: the same key twice does not increase progress."""
    out = init(sim)
    k = out["unseal_keys_b64"][0]
    assert jout(sim.vault("vault-0", "operator", "unseal", "-format=json", k))["progress"] == 1
    st = jout(sim.vault("vault-0", "operator", "unseal", "-format=json", out["unseal_keys_hex"][0]))
    assert st["progress"] == 1 and st["sealed"]


def test_wrong_share_accepted_until_threshold_then_fails_and_resets(sim):
    """§3: with threshold > 1 the first t-1 wrong keys are accepted silently; at the threshold the
    error chain `unable to retrieve stored keys: invalid key: ... message authentication failed`
    comes back (400, exit 2) and progress resets. The wrong key is from a second, independent cluster (§2)."""
    good = init(sim, "vault-0")
    other = init(sim, "vault-1")
    assert other["unseal_keys_b64"] != good["unseal_keys_b64"]
    r = sim.vault("vault-0", "operator", "unseal", "-format=json", other["unseal_keys_b64"][0])
    assert r.returncode == 0 and jout(r)["progress"] == 1
    sim.vault("vault-0", "operator", "unseal", good["unseal_keys_b64"][1])
    r = sim.vault("vault-0", "operator", "unseal", good["unseal_keys_b64"][2])
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.startswith("Error unsealing: Error making API request.\n\n" + UNSEAL_URL + "Code: 400. Errors:\n\n* ")
    assert "unable to retrieve stored keys: invalid key:" in err and "message authentication failed" in err
    st = status(sim, "vault-0")
    assert st["sealed"] and st["progress"] == 0 and st["nonce"] == ""
    for k in good["unseal_keys_b64"][2:5]:
        sim.vault("vault-0", "operator", "unseal", k)
    assert status(sim, "vault-0")["sealed"] is False


@pytest.mark.parametrize("key,message", [
    ("not-a-key!", "'key' must be a valid hex or base64 string"),
    (base64.b64encode(b"x" * 8).decode(), "invalid key: key is shorter than minimum 16 bytes"),
    (base64.b64encode(b"x" * 40).decode(), "invalid key: key is longer than maximum 33 bytes"),
])
def test_malformed_keys_exact_400_texts(sim, key, message):
    """§3 Key decoding and errors: the exact 400 texts, exit 2, stderr only."""
    init(sim)
    r = sim.vault("vault-0", "operator", "unseal", "-format=json", key)
    assert r.returncode == 2 and r.stdout == b""
    assert r.stderr.decode() == api_error("Error unsealing", "PUT", "sys/unseal", 400, message)


def test_unseal_uninitialized_node(sim):
    """§3 item 4: not initialized -> 400 `Vault is not initialized`."""
    r = sim.vault("vault-0", "operator", "unseal", base64.b64encode(os.urandom(33)).decode())
    assert r.returncode == 2
    assert r.stderr.decode() == api_error("Error unsealing", "PUT", "sys/unseal", 400, "Vault is not initialized")


def test_unseal_without_key_and_non_tty_stdin(sim):
    """§3: prompt to stdout, then `file descriptor 0 is not a terminal` without reading the pipe
    (stdin stays open: no EOF needed), the long message on stderr, exit 1."""
    init(sim)
    env, cwd = sim.env("vault-0")
    p = subprocess.Popen(["vault", "operator", "unseal", "-format=json"], env=env, cwd=cwd, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.stdout.read(), p.stderr.read()
        assert p.wait(60) == 1
    finally:
        p.stdin.close()
    assert out == b"Unseal Key (will be hidden): \n"
    text = " ".join(err.decode().split())
    assert text.startswith("An error occurred attempting to ask for an unseal key.")
    assert "usually this is because you attempted to pipe a value into the unseal command" in text
    assert text.endswith("The raw error was: file descriptor 0 is not a terminal")
    assert all(len(line) <= 78 for line in err.decode().splitlines())


def test_unseal_prompt_on_a_tty_reads_up_to_carriage_return(sim):
    """§3 With a TTY: raw mode, bytes read until \\r or \\n (no EOF), prompt before the JSON."""
    out = init(sim)
    env, cwd = sim.env("vault-0")
    master, slave = pty.openpty()
    p = subprocess.Popen(["vault", "operator", "unseal", "-format=json"], env=env, cwd=cwd, stdin=slave,
                         stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    buf = b""
    try:
        deadline = time.time() + 60
        while b"(will be hidden): " not in buf and time.time() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                buf += os.read(master, 4096)
        # Like a person, type once the CLI has switched the terminal to raw mode (after the
        # prompt): the pty's settings show when echo is off, however slow the machine.
        while termios.tcgetattr(master)[3] & termios.ECHO and time.time() < deadline:
            time.sleep(0.02)
        os.write(master, out["unseal_keys_b64"][0].encode() + b"\r")
        while p.poll() is None and time.time() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    buf += os.read(master, 4096)
                except OSError:
                    break
        try:
            while select.select([master], [], [], 0.2)[0]:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
    finally:
        os.close(master)
    assert p.wait(60) == 0
    assert buf.startswith(b"Unseal Key (will be hidden): ")
    assert out["unseal_keys_b64"][0].encode() not in buf                  # not echoed
    doc = json.loads(buf[buf.index(b"{"):].replace(b"\r\n", b"\n"))
    assert doc["progress"] == 1 and doc["sealed"] is True


def test_unseal_reset(sim):
    """§3 -reset: PUT {"reset":true} returns the status; on an unsealed node 400 `vault is unsealed`, exit 2."""
    out = init(sim)
    sim.vault("vault-0", "operator", "unseal", out["unseal_keys_b64"][0])
    r = sim.vault("vault-0", "operator", "unseal", "-reset", "-format=json")
    assert r.returncode == 0 and jout(r)["progress"] == 0 and jout(r)["nonce"] == ""
    for k in out["unseal_keys_b64"][:3]:
        sim.vault("vault-0", "operator", "unseal", k)
    r = sim.vault("vault-0", "operator", "unseal", "-reset")
    assert r.returncode == 2
    assert r.stderr.decode() == api_error("Error resetting unseal process", "PUT", "sys/unseal", 400, "vault is unsealed")
    r = sim.vault("vault-0", "operator", "unseal", "a", "b")
    assert (r.returncode, r.stderr) == (1, b"Too many arguments (expected 1, got 2)\n")


def test_write_sys_unseal_json_on_stdin_returns_without_eof(sim):
    """§3: `vault write -format=json sys/unseal -` decodes one JSON object and returns as soon as it
    closes (Go json.Decoder), with the pipe still open; output is an api.Secret with .data (sorted keys,
    raw server fields, no ha_enabled/leader fields)."""
    out = init(sim)
    p = sim.popen("vault-0", "write", "-format=json", "sys/unseal", "-")
    try:
        p.stdin.write(json.dumps({"key": out["unseal_keys_b64"][0]}).encode() + b"\n")
        p.stdin.flush()
        assert p.wait(60) == 0                 # stdin deliberately NOT closed
        doc = json.loads(p.stdout.read())
    finally:
        p.stdin.close()
    assert list(doc) == ["request_id", "lease_id", "lease_duration", "renewable", "data", "warnings"]
    assert doc["request_id"] == "" and doc["warnings"] is None
    data = doc["data"]
    assert list(data) == sorted(data)
    assert data["progress"] == 1 and data["sealed"] is True and data["t"] == 3
    assert not {"ha_enabled", "is_self", "active_time", "leader_address"} & set(data)


def test_write_sys_unseal_key_dash_reads_to_eof_and_keeps_newline(sim):
    """§3: `key=-` reads stdin to EOF (hangs without it) and keeps the trailing newline: a base64 key
    still works (\\n ignored), a hex key with \\n fails with the hex/base64 400."""
    out = init(sim)
    p = sim.popen("vault-0", "write", "-format=json", "sys/unseal", "key=-")
    p.stdin.write(out["unseal_keys_b64"][0].encode() + b"\n")
    p.stdin.flush()
    time.sleep(1.0)
    assert p.poll() is None                    # still waiting for EOF
    p.stdin.close()
    assert p.wait(60) == 0
    assert json.loads(p.stdout.read())["data"]["progress"] == 1
    r = sim.vault("vault-0", "write", "sys/unseal", "key=-", input=(out["unseal_keys_hex"][1] + "\n").encode())
    assert r.returncode == 2
    assert r.stderr.decode() == api_error("Error writing data to sys/unseal", "PUT", "sys/unseal", 400,
                                          "'key' must be a valid hex or base64 string")


def test_write_argument_errors(sim):
    """kv-builder / write.go: bad JSON on stdin, missing data, K=V format."""
    r = sim.vault("vault-0", "write", "sys/unseal", "-", input=b"{oops")
    assert r.returncode == 1 and r.stderr.startswith(b"Failed to parse K=V data: ")
    r = sim.vault("vault-0", "write", "sys/unseal", "-", input=b"[1]")
    assert r.stderr == b"Failed to parse K=V data: json: cannot unmarshal array into Go value of type map[string]interface {}\n"
    r = sim.vault("vault-0", "write", "sys/unseal")
    assert (r.returncode, r.stderr) == (1, b"Must supply data or use -force\n")
    r = sim.vault("vault-0", "write", "sys/unseal", "novalue")
    assert r.stderr == b"Failed to parse K=V data: format must be key=value\n"


# ---------------------------------------------------------------- tokens and formats (docs/vault-cli.md §4, §6, §0)
def test_tokens_from_env_and_token_file(tmp_path):
    """§6 token resolution: VAULT_TOKEN, else $HOME/.vault-token; §4: no/invalid token -> 403 permission denied."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed"}) as s:
        root = s.vc.init_result["root_token"]
        path = "sys/storage/raft/configuration"
        r = s.vault("vault-0", "operator", "raft", "list-peers")
        assert r.returncode == 2
        assert r.stderr.decode() == api_error("Error reading the raft cluster configuration", "GET", path, 403,
                                              "permission denied")
        assert s.vault("vault-0", "operator", "raft", "list-peers", extra_env={"VAULT_TOKEN": root}).returncode == 0
        r = s.vault("vault-0", "operator", "raft", "list-peers", extra_env={"VAULT_TOKEN": "hvs.wrong"})
        assert r.returncode == 2 and r.stderr.decode().endswith("Code: 403. Errors:\n\n* permission denied\n")
        s.write_token("vault-0", root)
        assert s.vault("vault-0", "operator", "raft", "list-peers").returncode == 0
        assert s.vault("vault-0", "operator", "raft", "list-peers", extra_env={"VAULT_TOKEN": ""}).returncode == 0


def test_sealed_node_answers_503(tmp_path):
    """§4 list-peers errors: sealed -> `Code: 503. Errors:\\n\\n* Vault is sealed`, exit 2."""
    with SimServer(tmp_path, replicas=1, options={"preset": "initialized"}) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        r = s.vault("vault-0", "operator", "raft", "list-peers")
        assert r.returncode == 2
        assert r.stderr.decode() == api_error("Error reading the raft cluster configuration", "GET",
                                              "sys/storage/raft/configuration", 503, "Vault is sealed")


def test_vault_format_env_and_invalid_format(sim):
    """§6 VAULT_FORMAT (lowercased; overridden by -format); invalid -> `Invalid output format`, exit 1."""
    r = sim.vault("vault-0", "status", extra_env={"VAULT_FORMAT": "JSON"})
    assert r.returncode == 2 and jout(r)["initialized"] is False
    r = sim.vault("vault-0", "status", "-format=table", extra_env={"VAULT_FORMAT": "json"})
    assert r.stdout.startswith(b"Key ")
    r = sim.vault("vault-0", "status", extra_env={"VAULT_FORMAT": "xml"})
    assert (r.returncode, r.stderr, r.stdout) == (1, b"Invalid output format: xml\n", b"")
    r = sim.vault("vault-0", "status", "-format=yaml")
    assert b"initialized: false" in r.stdout and r.returncode == 2


def test_format_after_positional_is_extra_argument(sim):
    """§0: `vault operator raft join http://x -format=json` -> Too many arguments (expected 0-1, got 2), exit 1."""
    r = sim.vault("vault-1", "operator", "raft", "join", "http://vault-0.vault-internal:8200", "-format=json")
    assert (r.returncode, r.stderr) == (1, b"Too many arguments (expected 0-1, got 2)\n")


def test_cubbyhole_data_round_trip(tmp_path):
    """Data that snapshots carry (docs/vault-cli.md §5): cubbyhole/ write, read (api.Secret), missing key, delete."""
    with SimServer(tmp_path, replicas=1, options={"preset": "unsealed"}) as s:
        s.write_token("vault-0", s.vc.init_result["root_token"])
        r = s.vault("vault-0", "write", "cubbyhole/app", "password=s3cr3t")
        assert (r.returncode, r.stdout) == (0, b"Success! Data written to: cubbyhole/app\n")
        doc = jout(s.vault("vault-0", "read", "-format=json", "cubbyhole/app"))
        assert doc["data"] == {"password": "s3cr3t"} and doc["mount_type"] == "cubbyhole"
        assert s.vault("vault-0", "read", "-field=password", "cubbyhole/app").stdout == b"s3cr3t"
        r = s.vault("vault-0", "read", "cubbyhole/none")
        assert (r.returncode, r.stderr) == (2, b"No value found at cubbyhole/none\n")
        assert s.vault("vault-0", "delete", "cubbyhole/app").returncode == 0
        assert s.vault("vault-0", "read", "cubbyhole/app").returncode == 2


def test_help_and_unknown_commands(sim):
    """mitchellh/cli: -h prints help (exit 0), unknown commands print usage (exit 127), parent commands exit 1."""
    assert sim.vault("vault-0", "status", "-h").returncode == 0
    assert sim.vault("vault-0", "nosuch").returncode == 127
    assert sim.vault("vault-0", "operator", "raft").returncode == 1
    r = sim.vault("vault-0", "-format=json", "status")
    assert r.returncode == 1 and r.stderr.startswith(b"Invalid flags before the subcommand.")
    r = sim.vault("vault-0", "version")
    assert r.returncode == 0 and r.stdout.startswith(b"Vault v1.21.2 (")


def test_bootstrap_helper_full_runbook(sim):
    """The docs/design.md §1 runbook through the CLI: init, unseal 3 pods, join 2, all voters (docs/vault-cli.md §2-§4)."""
    out = bootstrap(sim)
    peers = jout(sim.vault("vault-0", "operator", "raft", "list-peers", "-format=json"))["data"]["config"]["servers"]
    assert [p["address"] for p in peers] == ["vault-%d.vault-internal:8201" % i for i in range(3)]
    assert [p["leader"] for p in peers] == [True, False, False]
    assert out["root_token"].startswith("hvs.")


@pytest.mark.parametrize("args,prefix,method,path", [
    (["operator", "raft", "list-peers"], "Error reading the raft cluster configuration", "GET",
     "sys/storage/raft/configuration"),
    (["operator", "raft", "autopilot", "state"], "Error checking autopilot state", "GET",
     "sys/storage/raft/autopilot/state"),
    (["operator", "raft", "remove-peer", "x"], "Error removing the peer from raft cluster", "PUT",
     "sys/storage/raft/remove-peer"),
    (["operator", "step-down"], "Error stepping down", "PUT", "sys/step-down"),
    (["operator", "raft", "snapshot", "save", "out.snap"], "Error taking the snapshot", "GET",
     "sys/storage/raft/snapshot"),
    (["operator", "raft", "snapshot", "restore", "/etc/hostname"], "Error installing the snapshot", "POST",
     "sys/storage/raft/snapshot"),
])
def test_token_bearing_commands_need_a_token_and_an_unsealed_node(tmp_path, args, prefix, method, path):
    """§4/§5/§6: these commands need a token (403 `permission denied`); on a sealed node 503 `Vault is sealed`; exit 2."""
    with SimServer(tmp_path, replicas=2, options={"preset": "ha"}) as s:
        r = s.vault("vault-0", *args)
        assert (r.returncode, r.stdout) == (2, b"")
        assert r.stderr.decode() == api_error(prefix, method, path, 403, "permission denied")
        s.delete_pod("vault-1")
        r = s.vault("vault-1", *args, extra_env={"VAULT_TOKEN": s.vc.init_result["root_token"]})
        assert r.returncode == 2
        assert r.stderr.decode() == api_error(prefix, method, path, 503, "Vault is sealed")


def test_token_and_key_over_stdin_with_sh(tmp_path):
    """docs/vault-cli.md §6.2: `sh -c 'IFS= read -r VAULT_TOKEN && export VAULT_TOKEN && exec vault ...'`;
    §3 option 2: `sh -c 'IFS= read -r k; printf %s "$k" | vault write -format=json sys/unseal key=-'`."""
    with SimServer(tmp_path, replicas=2, options={"preset": "ha"}) as s:
        root = s.vc.init_result["root_token"]
        r = s.sh("vault-1", "IFS= read -r VAULT_TOKEN && export VAULT_TOKEN && exec vault operator raft "
                            "list-peers -format=json", input=(root + "\n").encode())
        assert r.returncode == 0 and len(jout(r)["data"]["config"]["servers"]) == 2
        s.delete_pod("vault-1")
        for key in s.vc.init_result["unseal_keys_hex"][:3]:
            r = s.sh("vault-1", 'IFS= read -r k; printf %s "$k" | vault write -format=json sys/unseal key=-',
                     input=(key + "\n").encode())
            assert r.returncode == 0, r.stderr
        assert jout(r)["data"]["sealed"] is False


def test_init_on_a_join_pending_node_fails(tmp_path):
    """§2: Initialized() is true while a raft join is pending, so init on a joined node fails."""
    with SimServer(tmp_path, replicas=2, options={"preset": "unsealed"}) as s:
        assert s.vault("vault-1", "operator", "raft", "join", "http://vault-0.vault-internal:8200").returncode == 0
        r = s.vault("vault-1", "operator", "init")
        assert r.returncode == 2 and r.stderr.decode().endswith("* Vault is already initialized\n")


def test_fault_injection_reaches_the_documented_error_paths(tmp_path):
    """§1 exit codes: sealed and /sys/leader failing with an unmasked error -> the error, no JSON on
    stdout, exit 2; unsealed and /sys/leader failing -> `Error checking leader status`, exit 1."""
    with SimServer(tmp_path, replicas=2, options={"preset": "ha",
                                                  "faults": "vault-1:sys/leader:500:internal error"}) as s:
        s.delete_pod("vault-1")
        r = s.vault("vault-1", "status", "-format=json")
        assert (r.returncode, r.stdout) == (2, b"")
        assert r.stderr.decode() == api_error("Error checking leader status", "GET", "sys/leader", 500, "internal error")
        for k in s.vc.init_result["unseal_keys_b64"][:3]:
            s.vault("vault-1", "operator", "unseal", k)
        r = s.vault("vault-1", "status", "-format=json")
        assert (r.returncode, r.stdout) == (1, b"")
        s.call(s.vc.clear_faults)
        assert s.vault("vault-1", "status").returncode == 0
        s.call(s.vc.inject_fault, "*", "sys/seal-status", 502, "")
        r = s.vault("vault-0", "status")
        assert r.returncode == 1 and r.stderr.decode().startswith("Error checking seal status: Error making API request.")
