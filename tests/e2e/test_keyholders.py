"""Key holders (issue 11): Shamir's point is that no one person holds the threshold. Each key
holder runs `unseal` with the one share they hold; every sealed pod keeps its own round
(progress and nonce live in each node, docs/vault-cli.md §10.8 "Key holders"); a share already
given is ignored; a wrong share is only found at the threshold and the round starts again;
`unseal --reset` discards a round."""
import json
import os
import re
import time

from conftest import run_plugin, write_private

FAST = ("--vault-opt", "election_seconds=0.5-1.5", "--vault-opt", "preset=sealed-ha")
WRONG = "IXyR0OJnSFobekZMMCKCoVEpT7wI6l+USMzE3IcyDyoA"  # well-formed, from no cluster


def sealed_cluster(make_fake, tmp_path):
    fake = make_fake(*FAST)
    init = json.load(open(os.path.join(fake.state_dir, "vault", "vault", "vault",
                                       "vault-init.json")))
    holders = [write_private(tmp_path / ("holder%d" % i), k + "\n")
               for i, k in enumerate(init["unseal_keys_b64"])]
    return fake, init, holders


def unseal(fake, *args):
    return run_plugin(["unseal"] + list(args), kubeconfig=fake.kubeconfig, timeout=120)


def progress(fake):
    r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig)
    doc = json.loads(r.stdout)
    return {p["name"]: (p["vault"]["sealed"], p["vault"]["progress"]) for p in doc["pods"]}, doc


def test_three_key_holders_one_key_each(make_fake, tmp_path):
    fake, init, holders = sealed_cluster(make_fake, tmp_path)
    r = unseal(fake, "--keys-file", holders[0])
    assert r.returncode == 0, r.stderr
    assert r.stderr == (
        "vault-0: 1/3\nvault-1: 1/3\nvault-2: 1/3\n"
        "vault-0: 1/3, 2 more keys needed (from another key holder)\n"
        "vault-1: 1/3, 2 more keys needed (from another key holder)\n"
        "vault-2: 1/3, 2 more keys needed (from another key holder)\n"
        "Keys accepted. Next key holder: `kubectl vault-ha unseal`\n")
    state, doc = progress(fake)
    assert state == {"vault-0": (True, 1), "vault-1": (True, 1), "vault-2": (True, 1)}
    assert doc["verdict"]["next"] == [
        "kubectl vault-ha unseal (1 of 3 keys given; key holders submit one each)"]
    r = run_plugin(["status"], kubeconfig=fake.kubeconfig)
    assert "  kubectl vault-ha unseal (1 of 3 keys given; key holders submit one each)\n" \
        in r.stdout
    r = unseal(fake, "--keys-file", holders[1])
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith(
        "vault-0: 1 of 3 keys given in this round so far\n"
        "vault-1: 1 of 3 keys given in this round so far\n"
        "vault-2: 1 of 3 keys given in this round so far\n"
        "vault-0: 2/3\nvault-1: 2/3\nvault-2: 2/3\n"), r.stderr
    assert "vault-2: 2/3, 1 more key needed (from another key holder)\n" in r.stderr
    r = unseal(fake, "--keys-file", holders[4])
    assert r.returncode == 0, r.stderr
    assert "vault-0: unsealed\nvault-1: unsealed\nvault-2: unsealed\n" in r.stderr
    # The election may be over by then (fast in this fake): either way the last line says who.
    assert re.search(r"(^|\.\.\. )vault-\d is active( \(\d+\.\d s\)|\.)\n\Z", r.stderr, re.M), \
        r.stderr
    state, doc = progress(fake)
    assert all(not sealed for sealed, _ in state.values())
    assert doc["verdict"]["active"] is not None


def test_wrong_key_in_the_round(make_fake, tmp_path):
    fake, init, holders = sealed_cluster(make_fake, tmp_path)
    assert unseal(fake, "vault-1", "--keys-file", holders[0]).returncode == 0
    wrong = write_private(tmp_path / "wrong", WRONG + "\n")
    r = unseal(fake, "vault-1", "--keys-file", wrong)
    assert r.returncode == 0, r.stderr  # below the threshold Vault cannot tell
    assert "vault-1: 2/3, 1 more key needed (from another key holder)\n" in r.stderr
    r = unseal(fake, "vault-1", "--keys-file", holders[2])
    assert r.returncode == 1
    assert r.stderr.startswith(
        "vault-1: 2 of 3 keys given in this round so far\n"
        "vault-1: the keys of this round did not unseal it: one of them is wrong or from "
        "another cluster ("), r.stderr
    assert r.stderr.endswith("). Vault reset its unseal progress to 0/3: every key holder must "
                             "submit their key again\n"), r.stderr
    state, _ = progress(fake)
    assert state["vault-1"] == (True, 0)


def test_pods_at_different_progress(make_fake, tmp_path):
    fake, init, holders = sealed_cluster(make_fake, tmp_path)
    # The first key holder only reached vault-0; then vault-2 restarted (a round is lost then).
    assert unseal(fake, "vault-0", "--keys-file", holders[0]).returncode == 0
    assert unseal(fake, "--keys-file", holders[1]).returncode == 0
    state, _ = progress(fake)
    assert state == {"vault-0": (True, 2), "vault-1": (True, 1), "vault-2": (True, 1)}
    assert fake.kubectl("delete", "pod", "vault-2", "-n", "vault").returncode == 0
    deadline = time.time() + 60
    while True:  # the StatefulSet brings it back, sealed, with no round
        state, doc = progress(fake)
        if state.get("vault-2") == (True, 0) or time.time() > deadline:
            break
        time.sleep(0.5)
    assert state["vault-2"] == (True, 0), state
    assert doc["verdict"]["next"] == [
        "kubectl vault-ha unseal (keys given: vault-0 2 of 3, vault-1 1 of 3; key holders "
        "submit one each)"]
    # The same key again: Vault ignores it where it already has it, counts it elsewhere.
    r = unseal(fake, "--keys-file", holders[1])
    assert r.returncode == 0, r.stderr
    assert "vault-0: 2/3 (Vault already had this key in this round: ignored)\n" in r.stderr
    assert "vault-1: 1/3 (Vault already had this key in this round: ignored)\n" in r.stderr
    assert "vault-2: 1/3\n" in r.stderr
    # Every pod below the threshold gets the keys, each with its own count.
    r = unseal(fake, "--keys-file", holders[3])
    assert r.returncode == 0, r.stderr
    assert "vault-0: unsealed\n" in r.stderr
    assert "vault-1: 2/3, 1 more key needed (from another key holder)\n" in r.stderr
    assert "vault-2: 2/3, 1 more key needed (from another key holder)\n" in r.stderr
    # Only keys Vault already has: nothing accepted, so not a success.
    r = unseal(fake, "vault-1", "--keys-file", holders[3])
    assert r.returncode == 1
    assert r.stderr.endswith("kubectl vault-ha: Vault already had every key given in this round: "
                             "another key holder must submit theirs (`kubectl vault-ha "
                             "unseal`)\n"), r.stderr


def test_reset_discards_a_round(make_fake, tmp_path):
    fake, init, holders = sealed_cluster(make_fake, tmp_path)
    assert unseal(fake, "--keys-file", holders[0]).returncode == 0
    r = unseal(fake, "--reset", "vault-1")
    assert r.returncode == 1
    assert "Discard the unseal keys given so far on vault-1 (1/3)? Every key holder must then " \
           "submit again: refusing without a terminal to confirm; add --yes" in r.stderr
    r = unseal(fake, "--reset", "--yes", "vault-1")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "vault-1: unseal progress reset to 0/3\n"
    state, _ = progress(fake)
    assert state == {"vault-0": (True, 1), "vault-1": (True, 0), "vault-2": (True, 1)}
    r = unseal(fake, "--reset", "--yes", "vault-1")
    assert r.returncode == 0 and r.stdout == "No unseal round in progress: nothing to reset.\n"
    # Keys never travel in an exec command line, reset or not.
    for e in fake.exec_log():
        for k in init["unseal_keys_b64"]:
            assert k not in json.dumps(e)
