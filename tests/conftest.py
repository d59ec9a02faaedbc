"""Shared by tests/fake and tests/e2e: the longest tests start early, spread over the workers.

`make check` runs the suite on a few workers (pytest-xdist), which take tests in collection
order. A one-minute test collected last ran alone at the end while the other workers were
idle; all of them collected first landed on one worker, which then ran them one after
another. The list is a scheduling hint only: a name that no longer exists is ignored, and a
test missing from it just runs in its turn."""

LONG_FIRST = (
    "test_vaultsim_seal.py::test_shamir_to_transit_and_back",
    "test_lock.py::test_two_upgrades_at_once_and_ctrl_c_releases",
    "test_migrate_seal.py::test_shamir_to_transit_with_keys_file",
    "test_ops.py::test_peers_step_down_remove_peer",
    "test_migrate_seal.py::test_transit_to_shamir_needs_the_disabled_stanza",
    "test_selftest.py::test_runbook_with_real_kubectl",
    "test_vaultsim_seal.py::test_bad_configs_crash_at_start_with_their_line",
    "test_upgrade.py::test_interrupted_roll_resumes",
    "test_dr.py::test_openbao_round_trip",
    "test_migrate_seal.py::test_interrupted_and_resumed",
    "test_upgrade.py::test_five_pod_roll_after_helm_upgrade",
    "test_vaultsim_raft.py::test_join_unseal_async_window_and_promotion",
    "test_migrate_seal.py::test_openbao",
    "test_ops.py::test_tls_join_causes_from_the_pod_log",
    "test_ops.py::test_unseal_failure_paths",
    "test_ops.py::test_join_wiped_pod_and_leader_errors",
    "test_status.py::test_a_longer_request_timeout_gives_the_handshake_longer",
    "test_migrate_seal.py::test_transit_token_in_the_pods_env",
    "test_vaultsim_snapshot.py::test_large_snapshot_streams_in_bounded_memory",
    "test_fake_updates.py::test_on_delete_restart_and_catch_up",
    "test_upgrade.py::test_auto_unseal_needs_no_keys",
    "test_runbook.py::test_leader_loss_then_step_down_and_snapshot_at_once",
    "test_lock.py::test_leader_change_during_the_guard_wait",
    "test_dr.py::test_a_pod_that_never_comes_back_stops_with_the_next_command",
    "test_runbook.py::test_join_right_after_unseal_waits_for_the_election",
    "test_snapshot.py::test_large_snapshot_in_flat_memory",
    "test_dr.py::test_transit_into_another_key_stops_with_the_next_step",
    "test_vaultsim_dr.py::test_sealed_pod_keeps_the_new_clusters_threshold_until_it_restarts",
    "test_vaultsim_dr.py::test_openbao_26_restore_prints_file_already_closed_and_snapshots_are_stored",
    "test_ceremonies.py::test_generate_root_keeps_the_token_when_it_cannot_be_decoded_or_stored",
    "test_snapshot.py::test_restore_from_another_cluster_needs_force_and_its_keys",
    "test_migrate_seal.py::test_dry_run_changes_nothing_and_refusals",
)


def _rank(item):
    name = "%s::%s" % (item.path.name, item.originalname or item.name)
    try:
        return LONG_FIRST.index(name)
    except ValueError:
        return len(LONG_FIRST)


def _workers(config):
    """How many xdist workers share the tests (0: none), as every worker computes it alike."""
    wi = getattr(config, "workerinput", None)
    if wi and "workercount" in wi:
        return int(wi["workercount"])
    n = getattr(config.option, "numprocesses", None)
    return n if isinstance(n, int) else 0


def pytest_collection_modifyitems(session, config, items):
    ranked = sorted(items, key=_rank)  # stable: the rest keeps its order
    long = [it for it in ranked if _rank(it) < len(LONG_FIRST)]
    rest = ranked[len(long):]
    workers = _workers(config)
    if workers < 2:
        items[:] = long + rest
        return
    # xdist's load scheduler hands each worker a run of consecutive tests (at first a quarter
    # of its share, at least 2; later smaller runs to whoever runs low). One long test every
    # `chunk` places: each run holds one or two, so that no worker gets the long tests one
    # after another, and they do not all start at once either (most of them are CPU-bound).
    chunk = max(len(items) // workers // 4, 2)
    out = []
    while long:
        out.append(long.pop(0))
        out.extend(rest[:chunk - 1])
        del rest[:chunk - 1]
    items[:] = out + rest
