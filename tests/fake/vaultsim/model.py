"""The Vault cluster model: nodes (one per pod), raft clusters, seal/unseal, elections.

All state lives in the fake API server's process. Time-dependent behaviour (leader elections,
autopilot promotion of joined non-voters, the asynchronous end of a raft join, the old leader's
sleep after step-down, snapshot restore apply, join -retry) is kept as due times
(time.monotonic()) and applied lazily, in time order, by `advance()` whenever anything looks at
the model. A timer only wakes the model up to tell the API server that labels or readiness
changed; it never decides anything, so outcomes do not depend on scheduling.

Facts: docs/vault-cli.md (section numbers are cited at each behaviour).
"""
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import string
import time
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import seal as sealcfg
from . import shamir
from .goish import pem_fingerprints

BUILD_DATES = {
    "1.21.2": "2025-12-18T15:41:11Z",   # docs/vault-cli.md §1 example
    "2.0.4": "2026-06-02T10:21:37Z",
    "2.6.2": "2026-08-11T08:02:19Z",
}

DEFAULT_OPTIONS = {
    # autopilot server_stabilization_time (real default 10 s; docs/vault-cli.md §10.1)
    "stabilization_seconds": 2.0,
    # raft election after losing the leader / after a quorum is unsealed, and the leader lease
    # without quorum: "LO-HI" draws uniformly from that range for each election (or one number).
    # Vault scales raft's timeouts by performance_multiplier (5 by default): heartbeat and
    # election timeouts of ~5 s, randomised by raft (docs/vault-cli.md §10.7 "Leader election takes
    # seconds"). Tests that are not about elections pass a short range.
    "election_seconds": "2-6",
    # manualStepDownSleepPeriod (docs/vault-cli.md §4 step-down): 10 s in Vault
    "stepdown_sleep_seconds": 10.0,
    # the threshold key on a joining node returns before the node is unsealed (docs/vault-cli.md §3)
    "join_unseal_seconds": 0.3,
    # snapshot restore: the response comes first, the apply runs asynchronously (docs/vault-cli.md §5):
    # raft's fixed restoreOpDelayDuration of 5 s (docs/disaster-recovery.md §1.3) plus the time
    # the install takes, which grows with the uploaded size (bytes per second; 0 = instant).
    # Tests that are not about this wait pass a short delay.
    "restore_apply_seconds": 5.0,
    "restore_apply_bytes_per_second": 64 << 20,
    # -retry join loop interval
    "retry_join_seconds": 2.0,
    # state.bin is padded to at least this many bytes (benchmarks); 0 = natural size
    "snapshot_state_bytes": 0,
    # gzip level of snapshots; -1 = 6 (Go's default) for natural size, 1 up to 64 MiB, 0 (stored) above
    "snapshot_gzip_level": -1,
    # SHA256SUMS line order (Go iterates a map: either order happens for real)
    "snapshot_sums_reverse": False,
    # TLS: add the pod IPs to the node certificates' SANs (the chart's example does not)
    "tls_san_pod_ip": False,
    # TLS: put VAULT_CACERT (BAO_CACERT) into the container env, as the chart's TLS example does
    # through extraEnvironmentVars
    "tls_cacert_env": True,
    # OpenBao distroless image: only `bao`, no `vault` symlink, no shell (docs/vault-cli.md §8)
    "distroless": False,
    # start state: "" | initialized | unsealed | ha | sealed-ha  (keys written to <workdir>/vault-init.json)
    "preset": "",
    "preset_shares": 5,
    "preset_threshold": 3,
    # fault injection: "pod:path:status[:message]" entries separated by ";" (pod may be "*"),
    # e.g. "vault-1:sys/leader:500:internal error" (docs/vault-cli.md §1: sealed + /sys/leader failing)
    "faults": "",
    # seal: "shamir", or an auto-unseal type ("transit", "awskms", ...) whose nodes unseal
    # themselves at start while the seal is reachable (presets only: init stays Shamir)
    "seal_type": "shamir",
    # autopilot configuration (sys/storage/raft/autopilot/configuration)
    "autopilot_cleanup_dead_servers": False,
    "autopilot_min_quorum": 0,
    # presets: pods (comma-separated) that are raft members as non-voters autopilot never
    # promotes; raft peers whose pods do not exist (dead servers); followers whose applied
    # index trails the leader's ("pod:N,...")
    "non_voters": "",
    "dead_peers": "",
    "applied_lag": "",
    # pods that run another version ("pod:version,..."): an upgrade half done
    "pod_versions": "",
    # raft catch-up after a restart: a restarted node replays its log from its last snapshot,
    # so its applied index starts up to CATCHUP_ENTRIES behind the leader's commit index and
    # reaches it this many seconds after the unseal (autopilot reports the same LastIndex)
    "catchup_seconds": 0.0,
    # auto-unseal: how long a restarted node takes to unseal itself (the process starts,
    # reaches its seal); 0 = at once
    "auto_unseal_seconds": 0.0,
    # leadership moves: when a cluster's voters first reach this many, its leader steps down
    # (as `vault operator step-down`, sleeping stepdown_sleep_seconds before competing again) so a
    # standby leads; 0 = never. Tests that must tell the first pod from the active one.
    "step_down_at_voters": 0,
}

# How far behind the leader a restarted node's applied index starts (its last snapshot).
CATCHUP_ENTRIES = 64


# The chart's pod securityContext: Vault runs as uid 100 (vault), gid 1000 (fsGroup), and so do the
# processes `kubectl exec` starts in its container.
VAULT_UID = 100
VAULT_GID = 1000


def parse_version(v: str):
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", v)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def _rand_token_chars(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


class SimError(Exception):
    """An HTTP error the simulated server answers with: {"errors": [...]}."""

    def __init__(self, status: int, *messages: str):
        super().__init__(messages[0] if messages else "")
        self.status = status
        self.messages = list(messages)


class Member:
    def __init__(self, node_id: str, pod: str, address: str, voter: bool, t: float):
        self.node_id = node_id
        self.pod = pod
        self.address = address
        self.voter = voter
        self.added_at = t
        self.promote_due = None
        self.stable_since_ns = time.time_ns()
        self.non_voter = False          # OpenBao `raft join -non-voter`: never promoted


class RaftCluster:
    """One raft cluster: what `vault operator init` creates (docs/vault-cli.md §2: init on a fresh pod while
    another cluster exists creates a second, independent one)."""

    def __init__(self, shares: int, threshold: int, openbao: bool, legacy_tokens: bool):
        self.cluster_id = str(uuid.uuid4())
        self.cluster_name = "vault-cluster-" + secrets.token_hex(4)
        self.shares = shares
        self.threshold = threshold
        # The combined unseal key (Shamir secret, or the single key when shares == 1) is known
        # to the model only while it can be derived (after init, after an unseal).
        self.unseal_key = secrets.token_bytes(32)
        self.barrier_key = secrets.token_bytes(32)
        self.keyring_blob = seal_blob(self.unseal_key, self.barrier_key)
        prefix = "s." if (openbao or legacy_tokens) else "hvs."
        self.root_token = prefix + _rand_token_chars(24)
        self.tokens = {self.root_token: {"policies": ["root"]}}
        self.cubby = {}                 # (token, path) -> dict
        self.members = {}               # node_id -> Member, in configuration order
        self.leader = None              # node_id
        self.leader_since = None        # monotonic
        self.term = 1
        self.index = 1
        self.config_index = 1
        self.election_due = None
        self.lease_due = None           # the leader steps down when it cannot reach a quorum
        self.last_leader_ordinal = -1
        self.restore_due = None         # (t, parsed snapshot)
        self.stash = None               # encrypted records after a forced restore of another cluster
        # The barrier seal type in storage (core/seal-config, docs/seal-migration.md §9); the
        # shares combine to the unseal key (Shamir) or the recovery key (auto), the same
        # shares either way (§6).
        self.stored_type = "shamir"
        # An auto seal's stored keys (core/hsm/barrier-unseal-keys): the unseal key wrapped
        # by the seal's KMS or transit key, whose identity is seal_key_id (seal.key_id). Only a
        # seal with that identity unwraps them (docs/disaster-recovery.md §1.4). None: Shamir.
        self.stored_keys = None
        self.seal_key_id = None
        self.stepped_down_at_voters = False  # step_down_at_voters happened (once per cluster)

    def bump(self, n: int = 1):
        self.index += n
        return self.index


def seal_blob(key: bytes, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, b"vaultsim")


def open_blob(key: bytes, blob: bytes):
    """None when the key is wrong (Go: cipher: message authentication failed)."""
    try:
        if len(key) not in (16, 24, 32) or len(blob) < 13:
            return None
        return AESGCM(key).decrypt(blob[:12], blob[12:], b"vaultsim")
    except InvalidTag:
        return None


def kms_key(key_id: str) -> bytes:
    """The fake's KMS: a seal's key identity stands for its key material."""
    return hashlib.sha256(b"vaultsim kms " + key_id.encode()).digest()


def wrap_stored_keys(rc: "RaftCluster", key_id: str):
    """The auto seal with key_id wraps the cluster's unseal key (init, seal migration)."""
    rc.seal_key_id = key_id
    rc.stored_keys = seal_blob(kms_key(key_id), rc.unseal_key)


class Node:
    def __init__(self, pod: str, ordinal: int, node_id: str, pod_ip: str):
        self.pod = pod
        self.ordinal = ordinal
        self.node_id = node_id
        self.pod_ip = pod_ip
        self.host_ip = "172.18.0.%d" % (2 + ordinal % 200)
        self.endpoint = None
        self.rc = None              # RaftCluster whose data this node holds (initialized)
        self.pending = None         # RaftCluster of a raft join awaiting the unseal keys
        self.join_due = None        # monotonic: end of the async window after the threshold key
        self.retry = None           # -retry join parameters
        self.retry_due = None
        self.sealed = True
        self.parts = []
        self.nonce = ""
        self.removed = False
        self.unsealed_at = None
        self.active_since_ns = None
        self.process_starts = 0     # times the Vault process (re)started: memory-only state
        # the ceremony families served without a token (Vault 2.x enable_unauthenticated_access)
        # as the process read its configuration at start; None: the release's option
        self.unauth_access = None
        self.stepdown_until = 0.0
        self.down_since = None
        self.down_index = None      # the commit index when the pod went down (restart)
        self.catchup = None         # (start index, t0, t1): applied index catching up after a restart
        self.auto_unseal_due = None  # auto-unseal of a restarted node (auto_unseal_seconds)
        self.start_due = None        # the restarted pod's container starts (reads its config)
        # (shares, threshold) a sealed node still holds in memory after a restore brought
        # another cluster's seal configuration (docs/disaster-recovery.md §1.4): used for the
        # unseal until the process restarts or an unseal succeeds. None = the cluster's.
        self.seal_cache = None
        self.join_non_voter = False
        self.cert_names = None      # (dns, ips) of a reissued certificate, None = the modelled
        self.cert_foreign = False   # reissued by another CA
        self.cert_not_after = None  # reissued already expired (datetime)
        self.log = []               # Vault server log lines (hclog format), newest last
        self.seal = sealcfg.SealStart()  # seal decisions at process start (seal-migration §1.1)
        self.crash = None           # the fatal start-up line: the container exits (CrashLoop)


class Model:
    """Nodes of one Helm release and the raft clusters they form."""

    def __init__(self, *, namespace, fullname, replicas, workdir, version, tls, set_node_id,
                 openbao, options):
        self.namespace = namespace
        self.fullname = fullname
        self.workdir = workdir
        self.version = version
        self.vtuple = parse_version(version)
        self.tls = tls
        self.set_node_id = set_node_id
        self.openbao = openbao
        self.opt = options
        self.nodes = {}
        self.clusters = []
        # pod -> IP of its <pod>.<fullname>-internal record, or None; None hook: always there
        self.dns_hook = None
        self.ca_pem = None
        self.ca_fingerprint = None
        self.seal_available = True
        self.transit = sealcfg.TransitServer()
        # pod -> (server config text, container env) at process start; None: no config read
        # (the seal is the seal_type option's)
        self.config_source = None
        self.versions = {}          # pod -> version its image runs (set by the API server)
        self.leader_history = []    # (pod, term, wall ns) of every leader, in order
        for i in range(replicas):
            self.node("%s-%d" % (fullname, i))

    # ------------------------------------------------------------ basics
    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def has_removed_field(self) -> bool:
        return not self.openbao and self.vtuple >= (1, 19, 0)

    def pod_re(self):
        return re.escape(self.fullname) + r"-[0-9]+"

    def node(self, pod: str) -> Node:
        n = self.nodes.get(pod)
        if n is not None:
            return n
        m = re.fullmatch(self.pod_re(), pod)
        if not m:
            raise KeyError(pod)
        ordinal = int(pod.rsplit("-", 1)[1])
        n = Node(pod, ordinal, self._node_id(pod), "10.244.%d.%d" % (1 + ordinal % 250, 10 + ordinal % 200))
        n.seal = sealcfg.SealStart(self.opt["seal_type"])
        self.nodes[pod] = n
        self.log(n, "INFO", "core: Initializing version history cache for core")
        self.log(n, "INFO", "core: seal configuration missing, not initialized")
        return n

    def data_path(self, pod: str) -> str:
        """The pod's data volume (the chart's /vault/data, /openbao/data): the fake API server
        shows it inside the pod. Owned by the vault user, as the chart's fsGroup makes it."""
        d = os.path.join(self.workdir, "data", pod)
        if not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)
            _own(d)
        return d

    def _node_id(self, pod: str) -> str:
        if self.set_node_id:
            return pod          # VAULT_RAFT_NODE_ID = metadata.name (docs/vault-cli.md §4, §7): no node-id file
        # physical/raft: no id configured, so <storage path>/node-id, written once (a UUID)
        p = os.path.join(self.data_path(pod), "node-id")
        if os.path.exists(p):
            with open(p) as f:
                return f.read().strip()
        nid = str(uuid.uuid4())
        with open(p, "w") as f:
            f.write(nid)
        _own(p)
        return nid

    def raft_dir(self, n: Node) -> str:
        """<storage path>/raft: raft's own files (raft.db, snapshots/), and where peers.json is read."""
        return os.path.join(self.data_path(n.pod), "raft")

    def _hold_raft_data(self, n: Node):
        d = self.raft_dir(n)
        if not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)
            _own(d)
            for name in ("raft.db",):
                path = os.path.join(d, name)
                open(path, "ab").close()
                _own(path)

    # ------------------------------------------------------------ raft configuration in the log
    @staticmethod
    def servers_text(members) -> str:
        """hclog.Fmt("%+v", []raft.Server) as hashicorp/raft logs it, quoted by hclog when it has
        spaces: servers="[{Suffrage:Voter ID:x Address:y} ...]", or servers=[] when empty."""
        inner = " ".join("{Suffrage:%s ID:%s Address:%s}" % ("Voter" if m.voter else "Nonvoter",
                                                             m.node_id, m.address) for m in members)
        text = "[%s]" % inner
        return '"%s"' % text if " " in text else text

    def log_initial_configuration(self, n: Node, rc, t: float, members=None):
        """hashicorp/raft NewRaft: `initial configuration` when raft starts (at unseal)."""
        ms = list(rc.members.values()) if members is None else members
        index = rc.config_index if ms else 0
        self.log(n, "INFO", "storage.raft: initial configuration: index=%d servers=%s"
                 % (index, self.servers_text(ms)), t)

    def log_updating_configuration(self, rc, command: str, m, t: float):
        """hashicorp/raft appendConfigurationEntry, on the leader: the whole new configuration."""
        leader = self.leader_node(rc)
        if leader is None:
            return
        self.log(leader, "INFO", "storage.raft: updating configuration: command=%s server-id=%s "
                 "server-addr=%s servers=%s" % (command, m.node_id, m.address,
                                                 self.servers_text(rc.members.values())), t)

    def raft_start(self, n: Node, t: float):
        """physical/raft SetupCluster, run when raft starts at unseal (docs/vault-cli.md §10.9 "Lost-quorum
        recovery"): a <storage path>/raft/peers.json replaces the configuration with exactly its
        list, and is then deleted. Raises SimError when it cannot be used (the unseal fails)."""
        rc = n.rc
        path = os.path.join(self.raft_dir(n), "peers.json")
        if os.path.exists(path):
            self.log(n, "INFO", "storage.raft: raft recovery initiated: recovery_file=peers.json", t)
            try:
                servers = self._read_peers_json(path)
            except SimError as e:
                self.log(n, "ERROR", "core: failed to unseal: error=\"%s\"" % e.messages[0], t)
                raise
            self.log(n, "INFO", 'storage.raft: raft recovery found new config: config="{[%s]}"'
                     % " ".join("{%s %s %s}" % ("Nonvoter" if nv else "Voter", i, a)
                                for i, a, nv in servers), t)
            members = {}
            for node_id, address, non_voter in servers:
                old = rc.members.get(node_id)
                pod = address.split(".", 1)[0].split(":", 1)[0]
                m = Member(node_id, pod, address, not non_voter, t)
                if old is not None:
                    m.stable_since_ns = old.stable_since_ns
                m.non_voter = bool(non_voter)
                members[node_id] = m
            rc.members = members
            rc.config_index = rc.bump()
            if rc.leader is not None and rc.leader not in members:
                self._lose_leader(rc, t)
            os.unlink(path)
            self.log(n, "INFO", "storage.raft: raft recovery deleted peers.json", t)
        self.log_initial_configuration(n, rc, t)

    def _read_peers_json(self, path: str):
        """raft.ReadConfigJSON + checkConfiguration, and Vault's non_voter rule, with their texts."""
        pre = "raft recovery failed to parse peers.json: "
        if os.geteuid() == 0:
            st = os.stat(path)
            readable = (st.st_uid == VAULT_UID and st.st_mode & 0o400) or st.st_mode & 0o004 or \
                (st.st_gid == VAULT_GID and st.st_mode & 0o040)
            if not readable:
                raise SimError(500, pre + "open %s: permission denied" % self.pod_path(path))
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8", "replace").lstrip(" \t\r\n")
        if not text:
            raise SimError(500, pre + "EOF")
        try:
            value, _ = json.JSONDecoder().raw_decode(text)   # json.Decoder.Decode: the first value
        except ValueError as e:
            if e.pos >= len(text):
                raise SimError(500, pre + "unexpected EOF")
            raise SimError(500, pre + "invalid character %r looking for beginning of value"
                           % text[e.pos])
        if not isinstance(value, list):
            kind = {dict: "object", str: "string", bool: "bool", type(None): "null"}.get(type(value), "number")
            raise SimError(500, pre + "json: cannot unmarshal %s into Go value of type "
                           "[]raft.configEntry" % kind)
        servers = []
        for e in value:
            if not isinstance(e, dict):
                raise SimError(500, pre + "json: cannot unmarshal %s into Go value of type raft.configEntry"
                               % ("array" if isinstance(e, list) else "string" if isinstance(e, str) else "number"))
            fields = {k.lower(): v for k, v in e.items()}     # encoding/json matches names case-insensitively
            node_id, address, nv = fields.get("id", ""), fields.get("address", ""), fields.get("non_voter", False)
            for name, v, want in (("id", node_id, str), ("address", address, str), ("non_voter", nv, bool)):
                if v is not None and not isinstance(v, want):
                    got = "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else \
                        {str: "string", bool: "bool", list: "array", dict: "object"}[type(v)]
                    raise SimError(500, pre + "json: cannot unmarshal %s into Go struct field "
                                   "configEntry.%s of type %s" % (got, name, "bool" if want is bool else
                                                                 "raft.Server" + ("ID" if name == "id" else "Address")))
            servers.append((node_id or "", address or "", bool(nv)))
        seen_id, seen_addr = set(), set()
        conf = "{[%s]}" % " ".join("{%s %s %s}" % ("Nonvoter" if nv else "Voter", i, a) for i, a, nv in servers)
        voters = 0
        for node_id, address, nv in servers:
            if not node_id:
                raise SimError(500, pre + "empty ID in configuration: %s" % conf)
            if not address:
                raise SimError(500, pre + "empty address in configuration: %s" % conf)
            if node_id in seen_id:
                raise SimError(500, pre + "found duplicate ID in configuration: %s" % node_id)
            if address in seen_addr:
                raise SimError(500, pre + "found duplicate address in configuration: %s" % address)
            seen_id.add(node_id)
            seen_addr.add(address)
            voters += not nv
        if voters == 0:
            raise SimError(500, pre + "need at least one voter in configuration: %s" % conf)
        if not self.openbao:
            for node_id, _, nv in servers:
                if nv:
                    raise SimError(500, "raft recovery failed to parse configuration for node %s: "
                                   "setting `non_voter` is only supported in enterprise"
                                   % json.dumps(node_id))
        return servers

    def pod_path(self, host_path: str) -> str:
        """A file of a data volume as the pod sees it (/vault/data/...)."""
        base = os.path.join(self.workdir, "data")
        rel = os.path.relpath(host_path, base).split(os.sep, 1)
        return ("/openbao/data" if self.openbao else "/vault/data") + ("/" + rel[1] if len(rel) > 1 else "")

    def log(self, n: Node, level: str, msg: str, t: float | None = None):
        """Append a Vault server log line (hclog: `<RFC3339 ms>Z [LEVEL]  core: ...`)."""
        ns = time.time_ns() if t is None else self.wall_ns(t)
        secs, frac = divmod(ns, 1_000_000_000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%03dZ" % (frac // 1_000_000)
        n.log.append("%s [%s] %s%s" % (stamp, level, " " if len(level) == 4 else "", msg))
        del n.log[:-1000]

    def ordered_nodes(self):
        return sorted(self.nodes.values(), key=lambda n: n.ordinal)

    def api_addr(self, n: Node) -> str:
        return "%s://%s:8200" % (self.scheme, n.pod_ip)

    def cluster_addr(self, n: Node) -> str:
        return "https://%s.%s-internal:8201" % (n.pod, self.fullname)

    def raft_addr(self, n: Node) -> str:
        return "%s.%s-internal:8201" % (n.pod, self.fullname)

    def node_by_id(self, rc: RaftCluster, node_id: str):
        m = rc.members.get(node_id)
        return self.nodes.get(m.pod) if m else None

    def leader_node(self, rc):
        if rc is None or rc.leader is None:
            return None
        return self.node_by_id(rc, rc.leader)

    def is_member(self, n: Node) -> bool:
        return n.rc is not None and n.node_id in n.rc.members and not n.removed

    def is_active(self, n: Node) -> bool:
        return (not n.sealed and n.rc is not None and n.rc.leader == n.node_id and not n.removed)

    def initialized(self, n: Node) -> bool:
        # docs/vault-cli.md §2: Initialized() is true when the barrier exists or a raft join is pending.
        return n.rc is not None or n.pending is not None

    # ------------------------------------------------------------ lazy time
    def now(self) -> float:
        return time.monotonic()

    @staticmethod
    def wall_ns(t_mono: float) -> int:
        return time.time_ns() - int((time.monotonic() - t_mono) * 1e9)

    def advance(self, now: float | None = None):
        """Apply every due event in time order up to `now`."""
        now = self.now() if now is None else now
        for _ in range(10000):
            ev = self._next_event()
            if ev is None or ev[0] > now:
                return
            t, kind, obj = ev
            getattr(self, "_ev_" + kind)(t, obj)
        raise RuntimeError("vaultsim: event loop did not settle")

    def next_due(self):
        ev = self._next_event()
        return ev[0] if ev else None

    def _next_event(self):
        best = None

        def consider(t, kind, obj):
            nonlocal best
            if t is not None and (best is None or t < best[0]):
                best = (t, kind, obj)

        for rc in self.clusters:
            consider(rc.election_due, "election", rc)
            consider(rc.lease_due, "lease", rc)
            if rc.restore_due:
                consider(rc.restore_due[0], "restore", rc)
            for m in rc.members.values():
                consider(m.promote_due, "promote", (rc, m))
        for n in self.nodes.values():
            consider(n.join_due, "join_done", n)
            consider(n.auto_unseal_due, "auto_unseal", n)
            consider(n.start_due, "start", n)
            if n.retry is not None:
                consider(n.retry_due, "retry_join", n)
        return best

    def reconcile(self, rc: RaftCluster, t: float):
        """Schedule what raft/autopilot would do next, from the state at time t."""
        leader = self.leader_node(rc)
        if leader is not None and (leader.sealed or leader.removed or rc.leader not in rc.members):
            self._lose_leader(rc, t)
            leader = None
        if leader is None:
            for m in rc.members.values():
                m.promote_due = None
            if self.has_quorum(rc):
                if rc.election_due is None:
                    cands = self._candidates(rc, t)
                    if cands:
                        rc.election_due = t + self.election_delay()
                    else:
                        waits = [self.nodes[m.pod].stepdown_until for m in rc.members.values()
                                 if m.voter and self._up(m)]
                        if waits:
                            rc.election_due = max(t, min(waits))
            else:
                rc.election_due = None
        else:
            rc.election_due = None
            if self.has_quorum(rc):
                rc.lease_due = None
            elif rc.lease_due is None:
                rc.lease_due = t + self.election_delay()
            stab = float(self.opt["stabilization_seconds"])
            for m in rc.members.values():
                if m.voter:
                    m.promote_due = None
                    continue
                n = self.nodes.get(m.pod)
                if n is None or n.sealed or n.removed or n.rc is not rc or m.non_voter:
                    m.promote_due = None
                elif m.promote_due is None:
                    m.promote_due = max(n.unsealed_at or t, rc.leader_since or t) + stab

    def election_delay(self) -> float:
        """One election's duration: "LO-HI" (uniform) or a fixed number of seconds."""
        spec = str(self.opt["election_seconds"]).strip()
        m = re.fullmatch(r"([0-9.]+)\s*-\s*([0-9.]+)", spec)
        if m:
            lo, hi = sorted((float(m.group(1)), float(m.group(2))))
            return random.uniform(lo, hi)
        return float(spec)

    def _up(self, m: Member) -> bool:
        n = self.nodes.get(m.pod)
        return n is not None and not n.sealed and not n.removed and n.rc is not None

    def voters(self, rc):
        return [m for m in rc.members.values() if m.voter]

    def has_quorum(self, rc) -> bool:
        voters = self.voters(rc)
        if not voters:
            return False
        up = [m for m in voters if self._up(m)]
        return len(up) >= len(voters) // 2 + 1

    def _candidates(self, rc, t):
        out = []
        for m in rc.members.values():
            if not m.voter or not self._up(m):
                continue
            n = self.nodes[m.pod]
            if n.stepdown_until > t:
                continue
            out.append(n)
        return out

    def _lose_leader(self, rc, t):
        old = self.leader_node(rc)
        if old is not None:
            if not old.sealed:
                self.log(old, "INFO", "core: stepping down from active operation to standby", t)
            old.active_since_ns = None
            rc.last_leader_ordinal = old.ordinal
        rc.leader = None
        rc.leader_since = None
        rc.lease_due = None

    def _ev_election(self, t, rc):
        rc.election_due = None
        if not self.has_quorum(rc):
            self.reconcile(rc, t)
            return
        cands = self._candidates(rc, t)
        if not cands:
            self.reconcile(rc, t)
            return
        # Whichever candidate's randomised timer fires first wins, as in raft: any of them.
        new = random.choice(cands)
        rc.leader = new.node_id
        rc.leader_since = t
        rc.term += 1
        rc.bump(3)
        new.active_since_ns = self.wall_ns(t)
        self.leader_history.append((new.pod, rc.term, self.wall_ns(t)))
        self.log(new, "INFO", "core: acquired lock, enabling active operation", t)
        self.migrate_seal(new, rc, t)
        self.reconcile(rc, t)

    def migrate_seal(self, n: Node, rc: RaftCluster, t: float):
        """migrateSeal on the node that acquired the HA lock (docs/seal-migration.md §1.3): only
        a node started in migration mode migrates; the shares stay the same (§6)."""
        if not n.seal.migration:
            return
        if rc.stored_type == n.seal.barrier:
            self.log(n, "INFO", "core: migration is already performed", t)
            return
        old, new = rc.stored_type, n.seal.barrier
        self.log(n, "INFO", "core: seal migration initiated", t)
        if old == "shamir":
            self.log(n, "INFO", "core: migrating from shamir to auto-unseal: to=%s" % new, t)
        elif new == "shamir":
            self.log(n, "INFO", "core: migrating from one auto-unseal to shamir: from=%s" % old, t)
        else:
            self.log(n, "INFO", "core: migrating from one auto-unseal to another: from=%s to=%s"
                     % (old, new), t)
        rc.stored_type = new
        if new == "shamir":
            rc.stored_keys = rc.seal_key_id = None
        elif rc.unseal_key is not None:
            wrap_stored_keys(rc, n.seal.key_id)
        rc.bump(4)
        self.log(n, "INFO", "core: seal migration complete", t)

    def _ev_lease(self, t, rc):
        """A leader that cannot reach a quorum of voters steps down (raft leader lease)."""
        rc.lease_due = None
        if self.leader_node(rc) is not None and not self.has_quorum(rc):
            self._lose_leader(rc, t)
        self.reconcile(rc, t)

    def _ev_promote(self, t, rcm):
        rc, m = rcm
        m.promote_due = None
        if self.leader_node(rc) is None or not self._up(m):
            self.reconcile(rc, t)
            return
        m.voter = True
        m.stable_since_ns = self.wall_ns(t)
        rc.config_index = rc.bump()
        self.log_updating_configuration(rc, "AddVoter", m, t)
        at = int(self.opt["step_down_at_voters"])
        if at > 0 and not rc.stepped_down_at_voters and len(self.voters(rc)) >= at:
            rc.stepped_down_at_voters = True
            self.leader_node(rc).stepdown_until = t + float(self.opt["stepdown_sleep_seconds"])
            self._lose_leader(rc, t)
        self.reconcile(rc, t)

    def _ev_join_done(self, t, n):
        n.join_due = None
        rc = n.pending
        n.pending = None
        if rc is None:
            return
        n.rc = rc
        n.sealed = False
        n.unsealed_at = t
        n.down_since = None
        self._hold_raft_data(n)
        self.log_initial_configuration(n, rc, t, members=[])
        self.log(n, "INFO", "core: vault is unsealed", t)
        self.log(n, "INFO", "core: entering standby mode", t)
        rc.bump()
        if n.node_id in rc.members:
            rc.members[n.node_id].stable_since_ns = self.wall_ns(t)
        self.reconcile(rc, t)

    def _ev_auto_unseal(self, t, n):
        n.auto_unseal_due = None
        if n.rc is not None:
            self.auto_unseal(n, t)
            self.reconcile(n.rc, t)

    def _ev_retry_join(self, t, n):
        n.retry_due = None
        params = n.retry
        if params is None or n.rc is not None or n.pending is not None or not n.sealed:
            n.retry = None
            return
        if self.try_join(n, params) is None:
            n.retry = None
            self.join_with_seal(n, t)
        else:
            n.retry_due = t + float(self.opt["retry_join_seconds"])

    def _ev_restore(self, t, rc):
        _, parsed = rc.restore_due
        rc.restore_due = None
        self.apply_restore(rc, parsed, t)

    # ------------------------------------------------------------ status documents
    def build_date(self) -> str:
        return BUILD_DATES.get(self.version, "2025-01-01T00:00:00Z")

    def seal_config(self, n: Node):
        """(shares, threshold) the node's unseal uses: its cached configuration after a
        restore, else its cluster's (Shamir defaultSeal.BarrierConfig, docs/vault-cli.md §1.4)."""
        if n.seal_cache is not None:
            return n.seal_cache
        rc = n.rc or n.pending
        return (rc.shares, rc.threshold) if rc else (0, 0)

    def seal_status(self, n: Node) -> dict:
        """The server's /v1/sys/seal-status body, in Go field order (docs/vault-cli.md §1, §8)."""
        rc = n.rc or n.pending
        auto = sealcfg.is_auto(n.seal.barrier)
        d = {
            # the configured seal, not the stored one (docs/seal-migration.md §3)
            "type": n.seal.barrier,
            "initialized": self.initialized(n),
            "sealed": n.sealed,
            "t": self.seal_config(n)[1] if rc else 0,
            "n": self.seal_config(n)[0] if rc else 0,
            "progress": len(n.parts),
            "nonce": n.nonce,
            "version": self.pod_version(n.pod),
        }
        if self.openbao or self.vtuple >= (1, 11, 0):
            d["build_date"] = self.build_date()
        if self.openbao:
            d["commit_date"] = self.build_date()
        d["migration"] = self.migration_pending(n)
        if not n.sealed and n.rc is not None:
            d["cluster_name"] = n.rc.cluster_name
            d["cluster_id"] = n.rc.cluster_id
        d["recovery_seal"] = auto
        if auto and (self.openbao or self.vtuple >= (1, 16, 0)):
            d["recovery_seal_type"] = "shamir"
        d["storage_type"] = "raft"
        if self.has_removed_field():
            d["removed_from_cluster"] = bool(n.removed)
        return d

    def migration_pending(self, n: Node) -> bool:
        """`migration` in seal-status: started in migration mode and the stored seal is not yet
        the configured one (docs/seal-migration.md §1.4)."""
        rc = n.rc or n.pending
        return bool(n.seal.migration and rc is not None and rc.stored_type != n.seal.barrier)

    def leader_status(self, n: Node) -> dict:
        """/v1/sys/leader on an unsealed node (callers check sealed first: 503)."""
        rc = n.rc
        leader = self.leader_node(rc) if (rc is not None and self.is_member(n)) else None
        is_self = leader is n
        d = {
            "ha_enabled": True,
            "is_self": is_self,
            "active_time": None,
            "leader_address": self.api_addr(leader) if leader else "",
            "leader_cluster_address": self.cluster_addr(leader) if leader else "",
        }
        d["active_time"] = n.active_since_ns if (is_self and n.active_since_ns) else 0
        if not self.openbao:
            d["performance_standby"] = False
            d["performance_standby_last_remote_wal"] = 0
        if rc is not None:
            d["raft_committed_index"] = rc.index
            d["raft_applied_index"] = self.applied_index(n, rc)
        return d

    def applied_index(self, n: Node, rc: RaftCluster, t: float | None = None) -> int:
        """The node's applied index: the leader's commit index, less the configured lag, or
        on its way there after a restart (catch-up)."""
        top = max(1, rc.index - self.applied_lag(n.pod))
        if n.catchup is None:
            return top
        start, t0, t1 = n.catchup
        t = self.now() if t is None else t
        if t >= t1 or start >= top:
            n.catchup = None
            return top
        return max(1, min(top - 1, int(start + (top - start) * (t - t0) / (t1 - t0))))

    def start_catchup(self, n: Node, rc: RaftCluster, t: float):
        """A restarted member unsealed: it replays its raft log before it is caught up."""
        secs = float(self.opt["catchup_seconds"])
        if secs <= 0 or n.down_index is None:
            return
        start = max(1, min(n.down_index, rc.index) - CATCHUP_ENTRIES)
        n.catchup = (start, t, t + secs)

    def set_pod_version(self, pod: str, version: str):
        self.versions[pod] = version

    def pod_version(self, pod: str) -> str:
        for entry in filter(None, (e.strip() for e in str(self.opt["pod_versions"]).split(","))):
            name, _, version = entry.partition(":")
            if name == pod:
                return version
        return self.versions.get(pod, self.version)

    def applied_lag(self, pod: str) -> int:
        for entry in filter(None, (e.strip() for e in str(self.opt["applied_lag"]).split(","))):
            name, _, lag = entry.partition(":")
            if name == pod:
                return int(lag)
        return 0

    def labels(self, pod: str) -> dict:
        """service_registration "kubernetes" labels (docs/vault-cli.md §7; openbao-* in OpenBao mode, §8)."""
        n = self.node(pod)
        p = "openbao-" if self.openbao else "vault-"
        return {
            p + "active": "true" if self.is_active(n) else "false",
            p + "sealed": "true" if n.sealed else "false",
            p + "initialized": "true" if n.rc is not None else "false",
            p + "perf-standby": "false",
            p + "version": re.sub(r"[^A-Za-z0-9\-_.]", "-", self.pod_version(pod)),
        }

    def ready(self, pod: str) -> bool:
        # readiness probe: `vault status -tls-skip-verify` exits 0 only when unsealed (docs/vault-cli.md §1, §7)
        n = self.node(pod)
        return n.rc is not None and not n.sealed

    # ------------------------------------------------------------ operations
    def pod_deleted(self, pod: str, t: float, start_in: float = 0.0):
        """The pod restarts: Vault comes back sealed with its data (initialized, still a member).
        Its container starts start_in seconds later (the new pod is created, then its container):
        only then does the process read its config (the ConfigMap's content at that moment,
        docs/seal-migration.md §8.3)."""
        n = self.node(pod)
        rc = n.rc
        was_leader = rc is not None and rc.leader == n.node_id
        if n.pending is not None and n.join_due is not None and n.node_id in n.pending.members:
            # The join answer was already accepted: the raft data exists on the volume.
            n.rc = n.pending
            rc = n.rc
            self._hold_raft_data(n)
        n.pending = None
        n.join_due = None
        n.retry = None
        n.retry_due = None
        n.sealed = True
        n.parts = []
        n.nonce = ""
        n.unsealed_at = None
        n.active_since_ns = None
        n.stepdown_until = 0.0
        n.down_since = t
        n.down_index = rc.index if rc is not None else None
        n.catchup = None
        n.seal_cache = None         # a new process reads the seal configuration from storage
        n.process_starts += 1
        n.log = []
        self.log(n, "INFO", "proxy environment: http_proxy=\"\" https_proxy=\"\" no_proxy=\"\"", t)
        self.log(n, "INFO", "core: Initializing version history cache for core", t)
        if rc is None:
            self.log(n, "INFO", "core: seal configuration missing, not initialized", t)
        n.auto_unseal_due = None
        n.start_due = None
        if rc is not None and was_leader:
            self._lose_leader(rc, t)
        if start_in > 0:
            n.crash = None              # the old process is gone; the new one has not started
            n.start_due = t + start_in
            if rc is not None:
                self.reconcile(rc, t)
            return
        self._process_start(n, t)

    def _ev_start(self, t: float, n: Node):
        n.start_due = None
        self._process_start(n, t)

    def _process_start(self, n: Node, t: float):
        """The restarted container's process starts: its seal config, then auto-unseal."""
        self.start_seal(n, t)
        rc = n.rc
        if rc is not None:
            delay = float(self.opt["auto_unseal_seconds"])
            if n.crash is not None:
                pass
            elif delay > 0 and sealcfg.is_auto(n.seal.barrier):
                n.auto_unseal_due = t + delay
            else:
                self.auto_unseal(n, t)
            self.reconcile(rc, t)

    def start_seal(self, n: Node, t: float):
        """The process starts: it reads its seal stanzas and env (the ConfigMap's content now,
        docs/seal-migration.md §8.3) and decides migration mode, or exits (§1.1, §4.2)."""
        n.crash = None
        if self.config_source is None:
            return
        src = self.config_source(n.pod)
        if src is None:
            return
        text, env = src
        from .ceremony import unauth_families_of_config
        n.unauth_access = unauth_families_of_config(text)
        rc = n.rc or n.pending
        st = sealcfg.configure(sealcfg.parse_seals(text), env, rc.stored_type if rc else None,
                               self.transit, openbao=self.openbao, vtuple=self.vtuple)
        if st.fatal is not None:
            n.crash = st.fatal
            n.log.append(st.fatal)
            return
        n.seal = st
        if st.migration:
            self.log(n, "WARN", "core: entering seal migration mode; Vault will not automatically "
                     "unseal even if using an autoseal: from_barrier_type=%s to_barrier_type=%s"
                     % (st.unwrap, st.barrier), t)

    def auto_unseal(self, n: Node, t: float):
        """Auto-unseal: an initialized node unseals itself at start while its seal (KMS,
        transit) answers; otherwise it stays sealed and logs why."""
        if not sealcfg.is_auto(n.seal.barrier) or n.seal.migration or n.crash is not None or \
                n.rc is None or not n.sealed:
            return
        if not self.seal_available:
            self.log(n, "ERROR", "core: failed to unseal: error=\"failed to decrypt keys: %s "
                     "seal unavailable\"" % n.seal.barrier, t)
            return
        if not self.open_stored_keys(n, n.rc, t):
            return
        try:
            self.raft_start(n, t)
        except SimError:
            return
        n.sealed = False
        n.seal_cache = None         # postUnseal clears the cached seal configuration
        n.unsealed_at = t
        n.down_since = None
        self.start_catchup(n, n.rc, t)
        self.log(n, "INFO", "core: vault is unsealed", t)

    def join_with_seal(self, n: Node, t: float):
        """After the challenge, an auto-unseal node answers it with its own seal, no unseal keys
        (vault/raft.go JoinRaftCluster): it needs a seal that decrypts the cluster's stored keys
        (docs/disaster-recovery.md §1.4); otherwise the join stays pending."""
        rc = n.pending
        if rc is None or not sealcfg.is_auto(n.seal.barrier) or n.seal.migration or \
                rc.unseal_key is None:
            return
        if rc.stored_keys is not None and \
                open_blob(kms_key(n.seal.key_id or ""), rc.stored_keys) is None:
            self.log(n, "ERROR", "core: failed to join raft cluster: error=\"error decrypting "
                     "challenge: cipher: message authentication failed\"", t)
            return
        try:
            self.unseal_with(n, rc.unseal_key, t)
        except SimError as e:
            self.log(n, "ERROR", "core: failed to join raft cluster: error=\"%s\"" % e, t)

    def open_stored_keys(self, n: Node, rc: RaftCluster, t: float) -> bool:
        """The node's auto seal decrypts the cluster's stored keys (GetStoredKeys): the same
        KMS or transit key that wrapped them (docs/disaster-recovery.md §1.4). After a restore
        that sealed the cluster, the first seal that can decrypts them opens the restored
        keyring and data. False (logged) when its key is another one."""
        if rc.stored_keys is None:
            return True
        unseal = open_blob(kms_key(n.seal.key_id or ""), rc.stored_keys)
        if unseal is None:
            self.log(n, "ERROR", "core: failed to unseal: error=\"failed to decrypt keys from "
                     "storage: error decrypting seal wrapped value: cipher: message "
                     "authentication failed\"", t)
            return False
        if rc.unseal_key is None:
            barrier = open_blob(unseal, rc.keyring_blob)
            if barrier is None:
                return False
            rc.unseal_key, rc.barrier_key = unseal, barrier
            if rc.stash is not None:
                self._load_records(rc, rc.stash, barrier)
                rc.stash = None
            rc.seal_key_id = n.seal.key_id
        return True

    def set_seal_available(self, available: bool, t: float):
        self.seal_available = available
        if available:
            for n in self.ordered_nodes():
                if n.rc is not None and n.sealed:
                    self.auto_unseal(n, t)
                    self.reconcile(n.rc, t)

    def wipe(self, pod: str, t: float):
        """Delete the pod's volume as well (a fresh node, new UUID node id)."""
        n = self.node(pod)
        self.pod_deleted(pod, t)
        n.rc = None
        n.removed = False
        d = self.data_path(pod)
        for name in os.listdir(d):
            full = os.path.join(d, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
        n.node_id = self._node_id(pod)

    def init(self, n: Node, shares: int, threshold: int, t: float):
        rc = RaftCluster(shares, threshold, self.openbao, self.vtuple < (1, 10, 0))
        rc.stored_type = n.seal.barrier
        if sealcfg.is_auto(n.seal.barrier) and not n.seal.migration:
            wrap_stored_keys(rc, n.seal.key_id)
        rc.members[n.node_id] = Member(n.node_id, n.pod, self.raft_addr(n), True, t)
        self.clusters.append(rc)
        n.rc = rc
        n.removed = False
        self._hold_raft_data(n)
        n.sealed = True
        n.parts = []
        n.nonce = ""
        self.log(n, "INFO", "core: security barrier not initialized")
        self.log(n, "INFO", "core: security barrier initialized: stored=1 shares=%d threshold=%d" % (shares, threshold))
        self.log(n, "INFO", "core: root token generated")
        if shares == 1:
            keys = [rc.unseal_key]
        else:
            keys = shamir.split(rc.unseal_key, shares, threshold)
        self.reconcile(rc, t)
        return rc, keys

    @staticmethod
    def open_keyring(rc, combined: bytes):
        return open_blob(combined, rc.keyring_blob) if rc is not None else None

    def unseal_with(self, n: Node, combined: bytes, t: float):
        """The threshold was reached with `combined`; returns normally or raises SimError."""
        if n.pending is not None:
            rc = n.pending
            if open_blob(combined, rc.keyring_blob) is None:
                # vault/raft.go joinRaftSendAnswer: the challenge cannot be decrypted
                raise SimError(500, "error decrypting challenge: cipher: message authentication failed")
            leader = self.leader_node(rc)
            if leader is None:
                raise SimError(500, "error during raft join: no leader is available to receive the answer")
            # The leader adds the node as a non-voter right away (autopilot stabilization,
            # docs/vault-cli.md §10.1); the node unseals asynchronously (docs/vault-cli.md §3.3 "Raft join + Shamir").
            if n.node_id not in rc.members:
                rc.members[n.node_id] = Member(n.node_id, n.pod, self.raft_addr(n), False, t)
                rc.members[n.node_id].non_voter = bool(n.join_non_voter)
                rc.config_index = rc.bump()
                self.log_updating_configuration(rc, "AddNonvoter", rc.members[n.node_id], t)
            n.join_due = t + float(self.opt["join_unseal_seconds"])
            return
        rc = n.rc
        barrier = open_blob(combined, rc.keyring_blob)
        if barrier is None:
            # docs/vault-cli.md §3: wrong key material is only detected at the threshold
            raise SimError(400, "unable to retrieve stored keys: invalid key: failed to decrypt keys "
                                "from storage: cipher: message authentication failed")
        rc.unseal_key = combined
        rc.barrier_key = barrier
        if rc.stash is not None:
            self._load_records(rc, rc.stash, barrier)
            rc.stash = None
        self._hold_raft_data(n)
        self.raft_start(n, t)       # may raise (peers.json): the node stays sealed
        n.sealed = False
        n.seal_cache = None         # postUnseal clears the cached seal configuration
        n.unsealed_at = t
        n.down_since = None
        self.start_catchup(n, rc, t)
        self.log(n, "INFO", "core: vault is unsealed", t)
        self.log(n, "INFO", "core: entering standby mode", t)
        self.reconcile(rc, t)

    def try_join(self, n: Node, params: dict):
        """Obtain the raft challenge from the leader address; None on success, else a reason."""
        addrs = []
        auto = params.get("auto_join") or ""
        if auto:
            scheme = params.get("auto_join_scheme") or "https"
            port = params.get("auto_join_port") or 8200
            kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', auto))
            if kv.get("provider") != "k8s":
                return "discover-%s: unsupported provider" % kv.get("provider", "")
            for o in self.ordered_nodes():
                if o is not n:
                    addrs.append("%s://%s:%s" % (scheme, o.pod_ip, port))
        else:
            addrs.append(params.get("leader_api_addr") or "")
        last = "no leader address"
        for addr in addrs:
            reason = self._challenge(n, addr, params)
            if reason is None:
                self.log(n, "INFO", "core: attempting to join possible raft leader node: leader_addr=%s" % addr)
                return None
            last = reason
            if reason == "HTTP_TO_HTTPS":
                reason = ("Error making API request.\n\nURL: PUT %s/v1/sys/storage/raft/bootstrap/challenge\n"
                          "Code: 400. Raw Message:\n\nClient sent an HTTP request to an HTTPS server.\n" % addr)
            elif not reason.startswith("Error making"):
                reason = 'Put "%s/v1/sys/storage/raft/bootstrap/challenge": %s' % (addr.rstrip("/"), reason)
            self.log(n, "ERROR", 'core: failed to get raft challenge: leader_addr=%s error="error during raft '
                                 'bootstrap init call: %s"' % (addr, reason))
        self.log(n, "ERROR", "core: failed to join raft cluster: error=\"failed to get raft challenge\"")
        return last

    def _challenge(self, n: Node, addr: str, params: dict):
        m = re.fullmatch(r"(https?)://(\[[^\]]+\]|[^:/]+)(?::(\d+))?/?", addr.strip())
        if not m:
            return "invalid leader address \"%s\"" % addr
        scheme, host, port = m.group(1), m.group(2).strip("[]"), int(m.group(3) or (443 if m.group(1) == "https" else 80))
        target, err = self.resolve(host, port, n)
        if err:
            return err
        tls_err = self.tls_error(target, host, scheme, ca_pems=[params.get("leader_ca_cert") or ""],
                                 skip_verify=False, server_name=params.get("leader_tls_servername") or "")
        if tls_err:
            return tls_err
        if target.sealed or target.rc is None or not self.is_member(target):
            return ("Error making API request.\n\nURL: PUT %s/v1/sys/storage/raft/bootstrap/challenge\n"
                    "Code: 503. Errors:\n\n* Vault is sealed" % addr.rstrip("/"))
        rc = target.rc
        if self.leader_node(rc) is None:
            return ("Error making API request.\n\nURL: PUT %s/v1/sys/storage/raft/bootstrap/challenge\n"
                    "Code: 500. Errors:\n\n* local node not active but active cluster node not found"
                    % addr.rstrip("/"))
        n.pending = rc
        n.join_non_voter = bool(params.get("non_voter"))
        return None

    # ------------------------------------------------------------ addresses, DNS, TLS
    def resolve(self, host: str, port: int, frm: Node):
        """What connecting to host:port from inside pod `frm` reaches: (node, None) or (None, Go error)."""
        h = host.lower().rstrip(".")
        target = None
        ip = h
        if h in ("127.0.0.1", "localhost", "::1") or h == frm.pod:
            target = frm
            ip = "127.0.0.1" if h != "::1" else "[::1]"
        else:
            for o in self.nodes.values():
                if o.pod_ip == h:
                    target = o
            if target is None:
                target, ip = self._dns(h)
                if target is None and ip is None:
                    return None, "dial tcp: lookup %s on 10.96.0.10:53: no such host" % host
                if target is None:
                    return None, "dial tcp %s:%d: connect: connection refused" % (ip, port)
        if port != 8200:
            return None, "dial tcp %s:%d: connect: connection refused" % (ip, port)
        return target, None

    def _dns(self, h: str):
        ns = self.namespace
        for suffix in (".%s.svc.cluster.local" % ns, ".%s.svc" % ns, ".%s" % ns, ""):
            if h.endswith(suffix):
                cand = h[: len(h) - len(suffix)] if suffix else h
                r = self._dns_base(cand)
                if r is not None:
                    return r
        return None, None

    def _dns_base(self, base: str):
        fn = self.fullname
        internal = "." + fn + "-internal"
        if base.endswith(internal):
            pod = base[: -len(internal)]
            n = self.nodes.get(pod)
            if n is None:
                return None
            if self.dns_hook is not None:
                # The API server's view of the headless service's records (lag, faults).
                ip = self.dns_hook(pod)
                if ip is None:
                    return None
                if ip != n.pod_ip:
                    return None, ip  # a stale record: nothing listens there
            return n, n.pod_ip
        svc_ip = "10.96.%d.%d" % (sum(map(ord, base)) % 250, len(base) % 250 + 1)
        nodes = self.ordered_nodes()
        if base == fn + "-active":
            act = [n for n in nodes if self.is_active(n)]
            return (act[0], svc_ip) if act else (None, svc_ip)
        if base == fn + "-standby":
            st = [n for n in nodes if not self.is_active(n)]
            return (st[0], svc_ip) if st else (None, svc_ip)
        if base in (fn, fn + "-internal"):
            return (nodes[0], svc_ip) if nodes else (None, svc_ip)
        return None

    def cert_names(self, target: Node | None = None):
        """SANs of the node certificates under TLS (the chart's TLS example, docs/vault-cli.md §7), or
        those of a certificate a test reissued for that node."""
        if target is not None and target.cert_names is not None:
            return target.cert_names
        fn, ns = self.fullname, self.namespace
        dns = ["*.%s-internal" % fn, "*.%s-internal.%s.svc.cluster.local" % (fn, ns), "*.%s" % fn]
        ips = ["127.0.0.1"]
        if self.opt["tls_san_pod_ip"]:
            ips += [n.pod_ip for n in self.ordered_nodes()]
        return dns, ips

    @staticmethod
    def pem_fingerprints(pem_text: str):
        return pem_fingerprints(pem_text)

    def tls_error(self, target: Node, host: str, scheme: str, ca_pems=None, ca_fps=None,
                  skip_verify=False, server_name=""):
        """Outcome of connecting with `scheme` to the node's listener (None = fine)."""
        if not self.tls:
            if scheme == "https":
                return "http: server gave HTTP response to HTTPS client"
            return None
        if scheme == "http":
            return "HTTP_TO_HTTPS"
        if skip_verify:
            return None
        fps = list(ca_fps or [])
        for pem in ca_pems or []:
            fps += self.pem_fingerprints(pem)
        if self.ca_fingerprint not in fps or target.cert_foreign:
            return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        if target.cert_not_after is not None:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            return ("tls: failed to verify certificate: x509: certificate has expired or is not "
                    "yet valid: current time %s is after %s"
                    % (now, target.cert_not_after.strftime("%Y-%m-%dT%H:%M:%SZ")))
        name = (server_name or host).lower()
        dns, ips = self.cert_names(target)
        if re.fullmatch(r"[0-9.]+|[0-9a-f:]+", name) and ("." in name or ":" in name):
            if name in ips:
                return None
            return "tls: failed to verify certificate: x509: certificate is valid for %s, not %s" % (", ".join(ips), name)
        for pat in dns:
            if _match_hostname(pat, name):
                return None
        return "tls: failed to verify certificate: x509: certificate is valid for %s, not %s" % (", ".join(dns), name)

    # ------------------------------------------------------------ snapshot state
    def records(self, rc: RaftCluster):
        """state.bin content: the cluster's replicated state as storage entries (values barrier-encrypted)."""
        enc = lambda obj: b"\x01" + seal_blob(rc.barrier_key, json.dumps(obj, sort_keys=True).encode())
        recs = [
            ("core/seal-config", json.dumps({"type": rc.stored_type, "secret_shares": rc.shares,
                                             "secret_threshold": rc.threshold, "stored_shares": 1}).encode()),
            ("core/keyring", rc.keyring_blob),
        ]
        if rc.stored_keys is not None:
            recs.append(("core/hsm/barrier-unseal-keys", rc.stored_keys))
        recs += [
            ("core/cluster/local/info", enc({"name": rc.cluster_name, "id": rc.cluster_id})),
        ]
        for tok, info in sorted(rc.tokens.items()):
            recs.append(("sys/token/id/" + hashlib.sha256(tok.encode()).hexdigest(),
                         enc({"id": tok, "policies": info["policies"]})))
        for (tok, path), data in sorted(rc.cubby.items()):
            key = "logical/cubbyhole/%s/%s" % (hashlib.sha256(tok.encode()).hexdigest()[:24], path)
            recs.append((key, enc({"token": tok, "path": path, "data": data})))
        return recs

    def _load_records(self, rc: RaftCluster, recs: dict, barrier: bytes):
        def dec(v):
            raw = open_blob(barrier, v[1:]) if v[:1] == b"\x01" else None
            return json.loads(raw) if raw is not None else None
        info = dec(recs.get("core/cluster/local/info", b""))
        if info:
            rc.cluster_name, rc.cluster_id = info["name"], info["id"]
        tokens = {}
        cubby = {}
        for k, v in recs.items():
            if k.startswith("sys/token/id/"):
                t = dec(v)
                if t:
                    tokens[t["id"]] = {"policies": t["policies"]}
            elif k.startswith("logical/cubbyhole/"):
                c = dec(v)
                if c:
                    cubby[(c["token"], c["path"])] = c["data"]
        rc.tokens = tokens
        rc.cubby = cubby

    def apply_restore(self, rc: RaftCluster, parsed, t: float):
        """The asynchronous part of a restore (docs/vault-cli.md §5): replace the cluster's data."""
        recs = parsed.records
        keyring = recs.get("core/keyring", b"")
        barrier = open_blob(rc.unseal_key, keyring) if rc.unseal_key else None
        try:
            cfg = json.loads(recs.get("core/seal-config", b"{}"))
        except ValueError:
            cfg = {}
        snap_index = int(parsed.meta.get("Index", 0) or 0)
        rc.index = max(rc.index, snap_index) + 1
        if barrier is not None:
            rc.barrier_key = barrier
            self._load_records(rc, recs, barrier)
            self.reconcile(rc, t)
            return
        stored = recs.get("core/hsm/barrier-unseal-keys")
        members = [n for n in self.ordered_nodes() if n.rc is rc]
        if stored is not None:
            # An auto-unseal source: performKeyUpgrades fails, then each node reloads the root
            # key with its own seal (GetStoredKeys). A seal with the source's KMS or transit key
            # decrypts them and the node stays unsealed, with the source's keyring, recovery
            # configuration and cluster_id (docs/disaster-recovery.md §1.4). The nodes share
            # one model cluster, so either every member's seal opens them or all seal.
            opened = [open_blob(kms_key(n.seal.key_id or ""), stored)
                      if sealcfg.is_auto(n.seal.barrier) else None for n in members]
            unseal = opened[0] if opened and None not in opened else None
            barrier = open_blob(unseal, keyring) if unseal is not None else None
            if barrier is not None:
                for n in members:
                    self.log(n, "WARN", "core: failed to perform key upgrades, reloading using "
                             "auto seal", t)
                    self.log(n, "INFO", "core: done reloading root key using auto seal", t)
                rc.keyring_blob = keyring
                rc.unseal_key, rc.barrier_key = unseal, barrier
                rc.stored_keys = stored
                rc.seal_key_id = members[0].seal.key_id
                rc.stored_type = cfg.get("type", rc.stored_type)
                rc.shares = int(cfg.get("secret_shares", rc.shares))
                rc.threshold = int(cfg.get("secret_threshold", rc.threshold))
                self._load_records(rc, recs, barrier)
                self.reconcile(rc, t)
                return
            for n in members:
                self.log(n, "ERROR", "core: raft snapshot restore failed to get stored keys: "
                         "error=\"failed to decrypt keys from storage: error decrypting seal "
                         "wrapped value: cipher: message authentication failed\"", t)
        # Keys from another cluster (only reachable with -force): the keyring cannot be opened,
        # so every node seals itself (vault/raft.go raftSnapshotRestoreCallback, Shamir case, or
        # an auto seal whose key cannot decrypt the stored keys). The cluster now needs the
        # snapshot's unseal keys, or a seal with the source's KMS or transit key.
        rc.stored_keys = stored
        rc.seal_key_id = None
        rc.stored_type = cfg.get("type", rc.stored_type)
        for n in self.nodes.values():
            if n.rc is rc:
                n.seal_cache = (rc.shares, rc.threshold)
        rc.keyring_blob = keyring
        rc.shares = int(cfg.get("secret_shares", rc.shares))
        rc.threshold = int(cfg.get("secret_threshold", rc.threshold))
        rc.unseal_key = None
        rc.barrier_key = None
        rc.stash = dict(recs)
        rc.tokens = {}
        rc.cubby = {}
        self._lose_leader(rc, t)
        for n in self.nodes.values():
            if n.rc is rc:
                n.sealed = True
                n.parts = []
                n.nonce = ""
                n.unsealed_at = None
                n.active_since_ns = None
        self.reconcile(rc, t)

    def restore_apply_delay(self, uploaded_bytes: int) -> float:
        """How long after the restore's response the apply ends: the fixed delay plus the
        install time of this many bytes (docs/disaster-recovery.md §1.3)."""
        rate = float(self.opt["restore_apply_bytes_per_second"])
        extra = uploaded_bytes / rate if rate > 0 else 0.0
        return float(self.opt["restore_apply_seconds"]) + extra

    def restoring(self, n: Node) -> bool:
        """The node runs a restore's apply and holds its state lock (docs/vault-cli.md §1.3)."""
        rc = n.rc
        return rc is not None and rc.restore_due is not None and rc.leader == n.node_id

    @staticmethod
    def _snapshot_key(rc: RaftCluster):
        """SHA256SUMS.sealed is sealed by the cluster's seal: its unseal key (Shamir) or its
        KMS or transit key (auto), so a cluster on the source's KMS key opens it too
        (docs/disaster-recovery.md §1.2). None when the cluster cannot seal or open it."""
        if rc.seal_key_id is not None:
            return hashlib.sha256(b"vaultsim snapshot seal" + kms_key(rc.seal_key_id)).digest()
        if not rc.unseal_key:
            return None
        return hashlib.sha256(b"vaultsim snapshot seal" + rc.unseal_key).digest()

    def snapshot_seal(self, rc: RaftCluster):
        key = self._snapshot_key(rc)

        def seal(sums: bytes) -> bytes:
            from .snapshot import pb_bytes
            iv = secrets.token_bytes(12)
            ct = AESGCM(key).encrypt(iv, sums, None)
            return pb_bytes(1, ct) + pb_bytes(2, iv) + pb_bytes(5, pb_bytes(3, b"shamir"))
        return seal

    def snapshot_unseal(self, rc: RaftCluster, sealed: bytes):
        """Open SHA256SUMS.sealed with this cluster's key; None when it does not open."""
        from .snapshot import parse_pb
        key = self._snapshot_key(rc)
        if key is None:
            return None
        try:
            f = parse_pb(sealed)
            return AESGCM(key).decrypt(f[2][0], f[1][0], None)
        except (InvalidTag, KeyError, IndexError, ValueError):
            return None


def _match_hostname(pattern: str, host: str) -> bool:
    p = pattern.lower().split(".")
    h = host.lower().split(".")
    if len(p) != len(h):
        return False
    for i, (a, b) in enumerate(zip(p, h)):
        if i == 0 and a == "*":
            if not b:
                return False
            continue
        if a != b:
            return False
    return True


def _own(path: str):
    """The vault user owns what Vault writes (only possible when the fake runs as root)."""
    if os.geteuid() == 0:
        try:
            os.chown(path, VAULT_UID, VAULT_GID)
        except OSError:
            pass
