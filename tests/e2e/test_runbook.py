"""The runbook as people type it (issue 11): separate commands, no sleeps in between, against a
fake whose leader elections take seconds, as Vault's do with its default performance_multiplier
(docs/vault-cli.md §10.7 "Leader election takes seconds"). Also a leader loss with step-down and
snapshot save started at once, while raft elects the next leader."""
import json
import os
import re
import subprocess

from conftest import BIN, run_plugin, write_private

# Real elections: a few seconds, randomised (the fake's default is 2-6 s; said explicitly here
# so that a faster default elsewhere cannot weaken this test).
REAL_ELECTIONS = ("--vault-opt", "election_seconds=2-6")
ACTIVE_LINE = re.compile(r"^waiting for a leader election\.\.\. (vault-\d) is active \((\d+\.\d) s\)$",
                         re.M)


def test_runbook_as_four_commands(make_fake, tmp_path):
    fake = make_fake(*REAL_ELECTIONS)
    keys = tmp_path / "keys.json"
    kc = fake.kubeconfig
    r = run_plugin(["init", "--output", str(keys)], kubeconfig=kc)
    assert r.returncode == 0, r.stderr
    r = run_plugin(["unseal", "--keys-file", str(keys)], kubeconfig=kc, timeout=180)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[:2] == ["vault-1: not initialized: not a raft member yet (kubectl vault-ha join "
                         "vault-1)",
                         "vault-2: not initialized: not a raft member yet (kubectl vault-ha join "
                         "vault-2)"], r.stderr
    assert lines[2:5] == ["vault-0: 1/3", "vault-0: 2/3", "vault-0: unsealed"], r.stderr
    m = ACTIVE_LINE.search(r.stderr)
    assert m and m.group(1) == "vault-0", r.stderr
    assert float(m.group(2)) > 0.5, r.stderr  # it did wait for the election
    r = run_plugin(["join", "--keys-file", str(keys)], kubeconfig=kc, timeout=180)
    assert r.returncode == 0, r.stderr
    for pod in ("vault-1", "vault-2"):
        assert "%s: joined http://vault-0.vault-internal:8200\n" % pod in r.stderr
        assert "%s: unsealed\n" % pod in r.stderr
    r = run_plugin(["status"], kubeconfig=kc)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Cluster: healthy (3 voters, 3 unsealed voters, quorum 2, failure tolerance 1, " \
           "active vault-0)" in r.stdout
    # With the root token the raft view agrees once autopilot promoted the joiners.
    token = json.loads(keys.read_text())["root_token"]
    r = run_plugin(["status", "--wait-for", "healthy", "--timeout", "2m"], kubeconfig=kc,
                   env={"VAULT_TOKEN": token}, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr


def test_join_right_after_unseal_waits_for_the_election(make_fake, tmp_path):
    """The seed's failing sequence, with the token: join waits for the election the unseal
    started (here the unseal names only vault-0, then join runs at once). The election takes
    20 s here, the slow end of real ones, so that join starts inside it even on a busy machine
    (with 2-6 s, two test suites at once made join start after it had ended)."""
    fake = make_fake("--vault-opt", "election_seconds=20", "--vault-opt", "preset=initialized")
    init = json.load(open(os.path.join(fake.state_dir, "vault", "vault", "vault",
                                       "vault-init.json")))
    keys = write_private(tmp_path / "keys", "\n".join(init["unseal_keys_b64"][:3]) + "\n")
    # Submit the keys without waiting, through the raw CLI as another tool would (on stdin).
    for k in init["unseal_keys_b64"][:3]:
        r = fake.kubectl("exec", "-i", "vault-0", "-n", "vault", "--", "vault", "write",
                         "-format=json", "sys/unseal", "-", input=json.dumps({"key": k}))
        assert r.returncode == 0, r.stderr
    r = run_plugin(["join", "--keys-file", keys], kubeconfig=fake.kubeconfig,
                   env={"VAULT_TOKEN": init["root_token"]}, timeout=240)
    assert r.returncode == 0, r.stderr
    assert ACTIVE_LINE.search(r.stderr), r.stderr
    assert "vault-1: raft voter" in r.stderr and "vault-2: raft voter" in r.stderr


def test_no_quorum_is_not_waited_for(make_fake, tmp_path):
    """Two of three members sealed: no election can happen, so unseal does not wait but says
    how many more pods need keys and which; join fails at once with each member's state."""
    fake = make_fake(*REAL_ELECTIONS, "--vault-opt", "preset=sealed-ha")
    init = json.load(open(os.path.join(fake.state_dir, "vault", "vault", "vault",
                                       "vault-init.json")))
    keys = write_private(tmp_path / "keys", "\n".join(init["unseal_keys_b64"][:3]) + "\n")
    r = run_plugin(["unseal", "vault-1", "--keys-file", keys], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("vault-1: 1/3\nvault-1: 2/3\nvault-1: unsealed\n"
                        "No leader yet: 1 of 3 raft members is unsealed and a quorum needs 2: 1 "
                        "more pod needs keys (sealed: vault-0, vault-2): `kubectl vault-ha "
                        "unseal`\n")
    r = run_plugin(["peers"], kubeconfig=fake.kubeconfig, env={"VAULT_TOKEN": init["root_token"]})
    assert r.returncode == 1
    assert r.stderr == ("kubectl vault-ha: no leader can be elected: 1 of 3 raft members is "
                        "unsealed and a quorum needs 2, so 1 more must be unsealed (sealed: "
                        "vault-0, vault-2): run `kubectl vault-ha unseal`\n")


def test_wait_runs_out_with_what_it_waited_for(make_fake, tmp_path):
    """An election that takes longer than --timeout: the wait gives up and says what it waited
    for and each member's state."""
    fake = make_fake("--vault-opt", "election_seconds=60", "--vault-opt", "preset=sealed-ha")
    init = json.load(open(os.path.join(fake.state_dir, "vault", "vault", "vault",
                                       "vault-init.json")))
    keys = write_private(tmp_path / "keys", "\n".join(init["unseal_keys_b64"][:3]) + "\n")
    r = run_plugin(["--timeout", "3s", "unseal", "--keys-file", keys], kubeconfig=fake.kubeconfig)
    assert r.returncode == 1
    assert r.stderr.endswith(
        "waiting for a leader election... timed out\n"
        "kubectl vault-ha: gave up after 3s waiting for a leader election: no active node yet "
        "(vault-0: unsealed standby; vault-1: unsealed standby; vault-2: unsealed standby); see "
        "`kubectl vault-ha status`\n"), r.stderr
    r = run_plugin(["--timeout", "soon", "status"], kubeconfig=fake.kubeconfig)
    assert r.returncode == 64
    assert "--timeout wants a duration like 90s or 5m, not \"soon\"" in r.stderr


def test_leader_loss_then_step_down_and_snapshot_at_once(make_fake, tmp_path):
    # Elections at the slow end of real ones, so that both commands start inside one.
    fake = make_fake("--vault-opt", "election_seconds=4-8")
    keys = tmp_path / "keys.json"
    r = run_plugin(["bootstrap", "--output", str(keys)], kubeconfig=fake.kubeconfig, timeout=240)
    assert r.returncode == 0, r.stderr
    token = json.loads(keys.read_text())["root_token"]
    r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig)
    leader = json.loads(r.stdout)["verdict"]["active"]
    assert fake.kubectl("delete", "pod", leader, "-n", "vault").returncode == 0
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update({"HOME": "/nonexistent", "KUBECONFIG": fake.kubeconfig, "VAULT_TOKEN": token})
    snap = tmp_path / "after-loss.snap"
    procs = [subprocess.Popen([BIN, "step-down"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True),
             subprocess.Popen([BIN, "snapshot", "save", str(snap)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    outs = [p.communicate(timeout=240) for p in procs]
    (sd_out, sd_err), (ss_out, ss_err) = outs
    assert procs[0].returncode == 0, sd_err
    assert procs[1].returncode == 0, ss_err
    # They saw the election under way and waited for it instead of failing (on a very busy
    # machine one may start only after it ended: then it has nothing to wait for).
    waited = [err for err in (sd_err, ss_err)
              if err.startswith("waiting for a leader election... ")]
    assert waited, (sd_err, ss_err)
    for err in waited:
        assert ACTIVE_LINE.search(err), err
    m = re.search(r"^(vault-\d) stepped down\.$", sd_err, re.M)
    new_leader = m.group(1)
    assert new_leader != leader
    m = re.search(r"^(vault-\d) is active now \(was (vault-\d)\)\.$", sd_out, re.M)
    assert m and m.group(2) == new_leader and m.group(1) not in (leader, new_leader), sd_out
    assert "Saved snapshot %s from vault-" % snap in ss_out + ss_err
    r = run_plugin(["snapshot", "verify", str(snap)], kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr


def test_ctrl_c_ends_a_wait_cleanly(make_fake, tmp_path):
    """Ctrl-C while waiting for an election: the wait ends between two polls, the command says
    so and exits 130 (outside a wait, Ctrl-C ends a command as usual)."""
    import signal
    import time
    fake = make_fake("--vault-opt", "election_seconds=300", "--vault-opt", "preset=sealed-ha")
    init = json.load(open(os.path.join(fake.state_dir, "vault", "vault", "vault",
                                       "vault-init.json")))
    keys = write_private(tmp_path / "keys", "\n".join(init["unseal_keys_b64"][:3]) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update({"HOME": "/nonexistent", "KUBECONFIG": fake.kubeconfig})
    proc = subprocess.Popen([BIN, "unseal", "--keys-file", keys], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.time() + 120
    while b"waiting for a leader election..." not in seen and time.time() < deadline:
        chunk = proc.stderr.read1(4096)
        if not chunk:
            break
        seen += chunk
    assert b"waiting for a leader election..." in seen, seen
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    err = (seen + rest).decode()
    assert proc.returncode == 130, err
    assert err.endswith("waiting for a leader election... interrupted\n"
                        "kubectl vault-ha: interrupted while waiting for a leader election\n"), err
