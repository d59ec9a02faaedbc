"""Seal configuration, seal migration and the transit seal server of the simulator.

Facts: docs/seal-migration.md (section numbers cited below). A node reads its seal
stanzas and environment when its process starts (§8.3: the chart copies the ConfigMap at
container start); the stored seal type lives in the raft cluster (§9). What a node decides at
start is a `SealStart`: its configured (barrier) seal, its unwrap seal (the disabled stanza),
whether it is in migration mode, or the fatal line it exits with (§1.1, §4.2).
"""
import re

# Seal types that unseal by themselves (§5); "shamir" is the only manual one.
AUTO_TYPES = ("transit", "awskms", "gcpckms", "azurekeyvault", "pkcs11", "ocikms",
              "alicloudkms", "static", "kmip")

# The transit seal server's defaults: a Vault elsewhere in the cluster (§5.1).
TRANSIT_HOST = "vault-transit.vault-transit.svc"
TRANSIT_TOKEN = "hvs.CAESITransitSealTokenForTheFake"
TRANSIT_MOUNT = "transit"
TRANSIT_KEY = "autounseal"


class Stanza:
    def __init__(self, type_: str, attrs: dict):
        self.type = type_
        self.attrs = attrs

    @property
    def disabled(self) -> bool:
        # parseutil.ParseBool (§1.1): true, "true", "1", ...
        return str(self.attrs.get("disabled", "false")).strip().lower() in ("1", "t", "true")


_BLOCK = re.compile(r'^\s*seal\s+"([^"]*)"\s*\{(.*?)^\s*\}', re.M | re.S)
_ATTR = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s#]+)', re.M)


def parse_seals(text: str) -> list:
    """The `seal "TYPE" { k = v }` blocks of an HCL server config (flat blocks, as the chart's
    values write them); comments after # are ignored."""
    text = re.sub(r"(?m)^\s*#.*$", "", text or "")
    out = []
    for m in _BLOCK.finditer(text):
        attrs = {}
        for a in _ATTR.finditer(m.group(2)):
            v = a.group(2)
            attrs[a.group(1)] = v[1:-1] if v.startswith('"') else v
        out.append(Stanza(m.group(1), attrs))
    return out


class TransitServer:
    """The Vault that serves the transit seal: one key under one mount, one token; it can be
    made unreachable (connection refused) or its token revoked."""

    def __init__(self):
        self.host = TRANSIT_HOST
        self.port = 8200
        self.token = TRANSIT_TOKEN
        self.mount = TRANSIT_MOUNT
        self.key = TRANSIT_KEY
        # every key under the mount: the seal's own, and others a test adds (another
        # cluster's seal key on the same server, docs/disaster-recovery.md §1.4)
        self.keys = {TRANSIT_KEY}
        self.available = True
        self.encrypts = 0       # test encryptions seen (every seal configuration does one)
        # Requests to the cluster's own nodes that carried this token: a CLI run in a pod
        # inherited it from the pod's env (a test instrument; Vault ignores the token on
        # unauthenticated endpoints and refuses it, 403, on the others).
        self.leaked = 0

    @property
    def address(self) -> str:
        return "http://%s:%d" % (self.host, self.port)

    def matches(self, host: str, port: int) -> bool:
        h = host.lower().rstrip(".")
        short = self.host.split(".")[0]
        names = {self.host, short, "%s.%s" % (short, self.host.split(".")[1]),
                 self.host + ".cluster.local"}
        return h in names and port == self.port

    def ip(self) -> str:
        return "10.96.77.%d" % (sum(map(ord, self.host)) % 250 + 1)

    def dial_error(self, host: str, port: int):
        """Go's error text when the seal (or a CLI) connects to host:port, or None."""
        if not self.matches(host, port):
            return None
        if not self.available:
            return "dial tcp %s:%d: connect: connection refused" % (self.ip(), port)
        return None

    def encrypt_error(self, address: str, token: str, mount: str, key: str):
        """The transit wrapper's test Encrypt at seal configuration (§4.2): None or the error."""
        url = "%s/v1/%s/encrypt/%s" % (address.rstrip("/"), mount.strip("/"), key)
        m = re.fullmatch(r"(https?)://(\[[^\]]+\]|[^:/]+)(?::(\d+))?/?", address.strip())
        if not m:
            return 'parse "%s": invalid URI for request' % address
        host = m.group(2).strip("[]")
        port = int(m.group(3) or (443 if m.group(1) == "https" else 80))
        if not self.matches(host, port):
            if host in ("127.0.0.1", "localhost"):
                return 'Put "%s": dial tcp %s:%d: connect: connection refused' % (url, host, port)
            return 'Put "%s": dial tcp: lookup %s on 10.96.0.10:53: no such host' % (url, host)
        err = self.dial_error(host, port)
        if err:
            return 'Put "%s": %s' % (url, err)
        if token != self.token:
            return ("Error making API request.\n\nURL: PUT %s\nCode: 403. Errors:\n\n"
                    "* permission denied" % url)
        if mount.strip("/") != self.mount or key not in self.keys:
            return ("Error making API request.\n\nURL: PUT %s\nCode: 400. Errors:\n\n"
                    "* encryption key not found" % url)
        self.encrypts += 1
        return None


def default_key_id(seal_type: str):
    """The key identity of the seal the fake's chart values write (fakekube resources
    seal_hcl): the default transit server's key, or kms_key_id "alias/vault-unseal"."""
    if seal_type == "shamir":
        return None
    if seal_type == "transit":
        return "transit|http://%s:8200|%s|%s" % (TRANSIT_HOST, TRANSIT_MOUNT, TRANSIT_KEY)
    return "%s|alias/vault-unseal" % seal_type


def key_id(stanza, env: dict, transit, openbao: bool):
    """Which KMS key an auto seal stanza wraps the stored keys with: two seals with the same
    identity decrypt each other's stored keys (the same transit server, mount and key, or the
    same KMS key id), docs/disaster-recovery.md §1.4."""
    if stanza.type == "transit":
        address = stanza.attrs.get("address") or _env(env, openbao, "ADDR")
        mount = stanza.attrs.get("mount_path") or env.get("VAULT_TRANSIT_SEAL_MOUNT_PATH", "")
        key = stanza.attrs.get("key_name") or env.get("VAULT_TRANSIT_SEAL_KEY_NAME", "")
        m = re.fullmatch(r"(https?)://(\[[^\]]+\]|[^:/]+)(?::(\d+))?/?", address.strip())
        if m:
            host = m.group(2).strip("[]")
            port = int(m.group(3) or (443 if m.group(1) == "https" else 80))
            if transit.matches(host, port):  # the server's other names are the same server
                address = "http://%s:%d" % (TRANSIT_HOST, port)
        return "transit|%s|%s|%s" % (address.strip().rstrip("/"), mount.strip("/"), key)
    return "%s|%s" % (stanza.type, stanza.attrs.get("kms_key_id") or
                      stanza.attrs.get("key_id") or stanza.attrs.get("key_label") or "")


class SealStart:
    """What a node decided about its seals when its process started."""

    def __init__(self, barrier="shamir", unwrap=None, migration=False, fatal=None, key=None):
        self.barrier = barrier          # the configured seal's type (status `type`)
        self.unwrap = unwrap            # the old seal's type while migrating, else None
        self.migration = migration      # migration mode: never auto-unseals (§1.1)
        self.fatal = fatal              # the line the process exits 1 with
        # the configured auto seal's key identity (key_id); None for Shamir
        self.key_id = key if key is not None else default_key_id(barrier)


def _env(env: dict, openbao: bool, name: str) -> str:
    if openbao and ("BAO_" + name) in env:
        return env["BAO_" + name]
    return env.get("VAULT_" + name, "")


def configure(stanzas, env: dict, stored, transit: TransitServer, *, openbao: bool,
              vtuple) -> SealStart:
    """Vault's setSeal then checkForSealMigration (§1.1) for a node whose storage holds a
    barrier of type `stored` (None: not initialized)."""
    def fatal(msg):
        return SealStart(fatal=msg)

    if len(stanzas) > 3:
        return fatal('only 3 or less "seal" blocks are permitted')
    for s in stanzas:
        if s.type == "shamir" and s.disabled:
            return fatal("shamir seals cannot be set disabled (they should simply not be set)")
    enabled = [s for s in stanzas if not s.disabled]
    disabled = [s for s in stanzas if s.disabled]
    if len(enabled) > 1:
        if openbao or vtuple < (1, 15, 0):
            return fatal("seals: two seals provided but neither is disabled")
        return fatal("error: more than one enabled seal found")
    if len(disabled) > 1:
        return fatal("seals: two seals provided but both are disabled")
    barrier = enabled[0].type if enabled else "shamir"
    # VAULT_SEAL_TYPE overrides the enabled (or the implicit Shamir) seal's type (§5.1).
    override = _env(env, openbao, "SEAL_TYPE")
    if override:
        barrier = override
    unwrap = disabled[0].type if disabled else None
    seal_key = None
    if enabled and not override and is_auto(enabled[0].type):
        seal_key = key_id(enabled[0], env, transit, openbao)
    # Each auto seal is configured now: transit test-encrypts, even when disabled (§4.2).
    for s in stanzas:
        if s.type != "transit":
            continue
        address = s.attrs.get("address") or _env(env, openbao, "ADDR")
        token = s.attrs.get("token") or _env(env, openbao, "TOKEN")
        mount = s.attrs.get("mount_path") or env.get("VAULT_TRANSIT_SEAL_MOUNT_PATH", "")
        key = s.attrs.get("key_name") or env.get("VAULT_TRANSIT_SEAL_KEY_NAME", "")
        err = transit.encrypt_error(address, token, mount, key)
        if err:
            if openbao:
                return fatal('Error configuring seal "transit": %s' % err)
            return fatal("error parsing Seal configuration: %s" % err)
    if stored is None:
        return SealStart(barrier=barrier, key=seal_key)
    if unwrap is None:
        if stored == barrier:
            return SealStart(barrier=barrier, key=seal_key)
        if stored == "shamir":
            return SealStart(barrier=barrier, unwrap="shamir", migration=True, key=seal_key)
        if barrier == "shamir":
            return fatal('Error initializing core: cannot seal migrate from "%s" to Shamir, '
                         'no disabled seal in configuration' % stored)
        return fatal('Error initializing core: cannot seal migrate from "%s" to "%s", '
                     'no disabled seal in configuration' % (stored, barrier))
    return SealStart(barrier=barrier, unwrap=unwrap, migration=True, key=seal_key)


def is_auto(seal_type: str) -> bool:
    return seal_type != "shamir"
