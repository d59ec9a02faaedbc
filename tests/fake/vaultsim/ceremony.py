"""Key ceremonies of the simulated Vault: rekey (with verification), generate-root, rotate and
key-status, over HTTP (docs/ceremonies.md, sections cited below). Kept apart from
cluster.py so that other changes to the server merge cleanly: cluster.py only adds routes().

State lives in the memory of the active node only (§1.3):
- a rekey belongs to the node's current term as active node: a step-down, a leader change, a
  seal or a restart loses it (preSeal runs on each);
- a generate-root attempt survives a leadership change and a seal of its node (preSeal does
  not clear it) but is only seen there while it is active, and is lost when the process
  restarts.

Vault 2.x authenticates both families (§1.6) unless the server configuration lists them in
enable_unauthenticated_access, read when the process starts (option
enable_unauthenticated_access: the release's initial configuration).
"""
import base64
import re
import secrets
import time
import uuid

from aiohttp import web

from . import pgp, shamir
from .goish import go_b64_std_decode, go_hex_decode, go_json, rfc3339nano
from .model import DEFAULT_OPTIONS, SimError, _rand_token_chars, open_blob, seal_blob

# §2.7: Vault >= 1.20 needs the nonce to cancel a rekey within 10 minutes of its start.
CANCEL_DEADLINE_OPTION = "rekey_cancel_deadline_seconds"
DEFAULT_OPTIONS.setdefault(CANCEL_DEADLINE_OPTION, 600.0)
# Limited tokens, "TOKEN=path:cap+cap,path:cap;TOKEN2=...", e.g. one that may rotate but not
# read sys/key-status (§4.1: rotate needs update+sudo on sys/rotate and read on sys/key-status).
DEFAULT_OPTIONS.setdefault("ceremony_tokens", "")
# §1.6: the families that Vault >= 2.0 serves without a token, "rekey,generate-root": what the
# release's server configuration says at first (the chart's ConfigMap carries it too).
UNAUTH_OPTION = "enable_unauthenticated_access"
DEFAULT_OPTIONS.setdefault(UNAUTH_OPTION, "")
UNAUTH_FAMILIES = ("rekey", "generate-root", "generate-operation-token")

# §2.7: the releases from which a rekey cancel needs the nonce (1.20.0 and the backports).
CANCEL_NONCE_SINCE = {(1, 16): 21, (1, 17): 18, (1, 18): 11, (1, 19): 6}

# HTTP method -> the ACL capability it needs (§1.6 [inference]: read/update/delete per verb).
METHOD_CAPABILITY = {"GET": "read", "HEAD": "read", "PUT": "update", "POST": "update",
                     "DELETE": "delete", "LIST": "list"}

_UNAUTH_LINE = re.compile(r'(?m)^\s*enable_unauthenticated_access\s*=\s*\[([^\]]*)\]')


def unauth_families_of_config(text):
    """The families listed by `enable_unauthenticated_access = [...]` in an HCL server
    configuration (none when absent); comments after # are ignored."""
    text = re.sub(r"(?m)#.*$", "", text or "")
    m = _UNAUTH_LINE.search(text)
    if not m:
        return []
    return [f for f in re.findall(r'"([^"]*)"', m.group(1)) if f in UNAUTH_FAMILIES]


def unauth_families_of_option(opt):
    return [f.strip() for f in str(opt.get(UNAUTH_OPTION, "")).split(",") if f.strip() in UNAUTH_FAMILIES]


def unauth_config_line(opt):
    """The HCL line for the release's initial server configuration, "" when none is listed."""
    fams = unauth_families_of_option(opt)
    return "enable_unauthenticated_access = [%s]\n" % ", ".join('"%s"' % f for f in fams) if fams else ""


def _json(status, obj):
    return web.Response(status=status, text=go_json(obj, indent=False) + "\n",
                        content_type="application/json")


def _logical(data):
    return {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False, "lease_duration": 0,
            "data": data, "wrap_info": None, "warnings": None, "auth": None, "mount_type": "system"}


class RekeyConfig:
    def __init__(self, shares, threshold, pgp_keys, backup, verify, now):
        self.nonce = str(uuid.uuid4())
        self.shares = shares
        self.threshold = threshold
        self.pgp_keys = pgp_keys            # parsed public keys, in order
        self.backup = backup
        self.verify = verify
        self.created = now
        self.progress = []
        self.verification_key = None        # the new key, until the new holders verify it
        self.verification_nonce = ""
        self.verification_progress = []

    def fingerprints(self):
        return [k.fingerprint.hex() for k in self.pgp_keys] or None


class RootAttempt:
    def __init__(self, otp, pgp_key):
        self.nonce = str(uuid.uuid4())
        self.otp = otp
        self.pgp_key = pgp_key
        self.progress = []


def _decode_key(req):
    """§1.2: hex first (within [16, 33] bytes), then base64.StdEncoding; the same texts as unseal."""
    key = req.get("key", "")
    if not isinstance(key, str) or key == "":
        raise SimError(400, "'key' must be specified in request body as JSON")
    raw = go_hex_decode(key)
    if raw is None or not (16 <= len(raw) <= 33):
        raw = go_b64_std_decode(key)
        if raw is None:
            raise SimError(400, "'key' must be a valid hex or base64 string")
    if len(raw) < 16:
        raise SimError(400, "key is shorter than minimum 16 bytes")
    if len(raw) > 33:
        raise SimError(400, "key is longer than maximum 33 bytes")
    return raw


def _combine(parts):
    if len(parts) == 1:
        return parts[0]
    try:
        return shamir.combine(parts)
    except shamir.ShamirError as e:
        raise SimError(500, "failed to compute root key: %s" % e)


class Ceremonies:
    """The ceremony endpoints of one VaultCluster (vc: its _active/_token helpers, model)."""

    def __init__(self, vc):
        self.vc = vc
        self.m = vc.model

    # ------------------------------------------------------------ versions and auth
    def _vault2(self):
        return not self.m.openbao and self.m.vtuple >= (2, 0, 0)

    def _bao_legacy_off(self, family):
        """OpenBao >= 2.5.0 (rekey) / 2.5.3 (generate-root) does not mount the unauthenticated
        endpoints by default (§6)."""
        if not self.m.openbao:
            return False
        return self.m.vtuple >= ((2, 5, 0) if family == "rekey" else (2, 5, 3))

    def extra_tokens(self):
        """The tokens of option ceremony_tokens, valid in every raft cluster."""
        out = {}
        for entry in filter(None, (e.strip() for e in str(self.m.opt.get("ceremony_tokens", "")).split(";"))):
            tok, _, rules = entry.partition("=")
            paths = {}
            for rule in filter(None, rules.split(",")):
                path, _, caps = rule.partition(":")
                paths[path] = set(caps.split("+"))
            out[tok] = {"policies": ["default"], "paths": paths}
        return out

    def _allowed(self, request, rc, path, cap):
        tok = request.headers.get("X-Vault-Token", "")
        info = rc.tokens.get(tok) or self.extra_tokens().get(tok)
        if info is None:
            return False
        if "root" in info.get("policies", []):
            return True
        for p, caps in info.get("paths", {}).items():
            if (p == path or (p.endswith("*") and path.startswith(p[:-1]))) and cap in caps:
                return True
        return False

    def _require(self, request, rc, path, *caps):
        for cap in caps:
            if not self._allowed(request, rc, path, cap):
                raise SimError(403, "permission denied")

    # ------------------------------------------------------------ state on the active node
    def rekey_config(self, leader, target):
        """The rekey of this node's current term as active node; older ones are gone (§1.3)."""
        store = getattr(leader, "cer_rekey", None)
        if store is None or store[0] != leader.active_since_ns:
            store = (leader.active_since_ns, {})
            leader.cer_rekey = store
        return store[1].get(target)

    def set_rekey_config(self, leader, target, cfg):
        self.rekey_config(leader, target)
        if cfg is None:
            leader.cer_rekey[1].pop(target, None)
        else:
            leader.cer_rekey[1][target] = cfg

    def root_attempt(self, leader):
        """Kept across leadership changes and seals (preSeal does not clear it, §1.3/§3.5),
        lost when the process restarts."""
        store = getattr(leader, "cer_root", None)
        if store is None or store[0] != leader.process_starts:
            return None
        return store[1]

    def set_root_attempt(self, leader, attempt):
        leader.cer_root = (leader.process_starts, attempt)

    # ------------------------------------------------------------ auto-unseal (§2.8)
    def _recovery_keys(self):
        """The seal has recovery keys (auto-unseal): the shares given are recovery shares."""
        return self.m.opt["seal_type"] != "shamir"

    # ------------------------------------------------------------ routes
    def routes(self):
        r = {}
        legacy = {"sys/rekey": ("barrier", False), "sys/rekey-recovery-key": ("recovery", False),
                  "sys/rotate/root": ("barrier", True), "sys/rotate/recovery": ("recovery", True)}
        for prefix, (target, new) in legacy.items():
            if new and not self.m.openbao:
                continue
            r[prefix + "/init"] = self._bind(prefix, target, new, {
                "GET": self.rekey_status, "PUT": self.rekey_init, "POST": self.rekey_init,
                "DELETE": self.rekey_cancel})
            r[prefix + "/update"] = self._bind(prefix, target, new, {
                "PUT": self.rekey_update, "POST": self.rekey_update})
            r[prefix + "/verify"] = self._bind(prefix, target, new, {
                "GET": self.verify_status, "PUT": self.verify_update, "POST": self.verify_update,
                "DELETE": self.verify_restart})
        roots = {"sys/generate-root": False}
        if self.m.openbao:
            roots["sys/generate-root-token"] = True
        for prefix, new in roots.items():
            r[prefix + "/attempt"] = self._bind(prefix, "root", new, {
                "GET": self.root_status, "PUT": self.root_init, "POST": self.root_init,
                "DELETE": self.root_cancel})
            r[prefix + "/update"] = self._bind(prefix, "root", new, {
                "PUT": self.root_update, "POST": self.root_update})
        r["sys/rotate"] = {"PUT": self.rotate, "POST": self.rotate}
        r["sys/key-status"] = {"GET": self.key_status}
        return r

    def _bind(self, prefix, target, new, methods):
        family = "generate-root" if "generate-root" in prefix else "rekey"

        def wrap(fn):
            async def handler(request, node, now):
                leader = self._gate(request, node, family, new)
                body = {}
                if request.method in ("PUT", "POST", "DELETE"):
                    raw = await request.read()
                    if raw.strip():
                        body = await self.vc._body_json(_Body(raw))
                obj = fn(request, leader, target, body, now)
                if obj is None:
                    return web.Response(status=204)
                # OpenBao's authenticated paths answer as logical responses (data-wrapped).
                return _json(200, _logical(obj) if new else obj)
            return handler
        return {meth: wrap(fn) for meth, fn in methods.items()}

    def unauth_families(self, node):
        """What the node's process read at its start (the release's option until then)."""
        fams = getattr(node, "unauth_access", None)
        return unauth_families_of_option(self.m.opt) if fams is None else fams

    def _gate(self, request, node, family, new):
        m = self.m
        if not m.initialized(node):
            raise SimError(400, "server is not yet initialized")
        leader = self.vc._active(node)
        # §1.6: 2.x authenticates these families unless the receiving node's configuration
        # lists the family in enable_unauthenticated_access (then the raw, unauthenticated
        # handler is registered); OpenBao's new paths always did.
        opted_out = self._vault2() and not new and family in self.unauth_families(node)
        if new or (self._vault2() and not opted_out) or self._bao_legacy_off(family):
            # The logical path, checked per HTTP verb ([inference] read/update/delete).
            path = request.match_info["path"].strip("/")
            self._require(request, leader.rc, path, METHOD_CAPABILITY.get(request.method, "update"))
            if self._bao_legacy_off(family) and not new:
                # §6: the raw handler is not mounted; the logical backend has no such path.
                raise SimError(404, "unsupported path")
        return leader

    # ------------------------------------------------------------ rekey (§2)
    def _status_doc(self, leader, target, cfg):
        rc = leader.rc
        d = {"nonce": cfg.nonce if cfg else "", "started": cfg is not None,
             "t": cfg.threshold if cfg else 0, "n": cfg.shares if cfg else 0,
             "progress": len(cfg.progress) if cfg else 0, "required": rc.threshold,
             "pgp_fingerprints": cfg.fingerprints() if cfg else None,
             "backup": bool(cfg and cfg.backup), "verification_required": bool(cfg and cfg.verify)}
        if cfg and cfg.verification_nonce:
            d["verification_nonce"] = cfg.verification_nonce
        return d

    def _target_supported(self, target):
        if target == "recovery" and self.m.opt["seal_type"] == "shamir":
            raise SimError(400, "recovery rekeying not supported")

    def rekey_status(self, request, leader, target, body, now):
        self._target_supported(target)
        return self._status_doc(leader, target, self.rekey_config(leader, target))

    def rekey_init(self, request, leader, target, body, now):
        self._target_supported(target)
        # Go's decoder matches keys case-insensitively: the api sends "Backup" (§2.2).
        lower = {k.lower(): v for k, v in body.items()}
        shares = int(lower.get("secret_shares") or 0)
        threshold = int(lower.get("secret_threshold") or 0)
        pgp_keys = lower.get("pgp_keys") or []
        backup = bool(lower.get("backup"))
        verify = bool(lower.get("require_verification"))
        if backup and not pgp_keys:
            raise SimError(400, "cannot request a backup of the new keys without providing PGP keys for encryption")
        if pgp_keys and len(pgp_keys) != shares:
            raise SimError(400, "incorrect number of PGP keys for rekey")
        if threshold > shares:
            raise SimError(400, "provided threshold greater than the total shares")
        if target == "barrier" and self._recovery_keys():
            # §2.8: the barrier on auto-unseal is a root-key rotation: one stored share, no
            # PGP, no backup, no verification; authorised with the recovery keys.
            if pgp_keys:
                raise SimError(400, "PGP key encryption not supported when using stored keys")
            if backup:
                raise SimError(400, "key backup not supported when using stored keys")
            if verify:
                raise SimError(400, "requiring verification not supported when rekeying the barrier "
                                    "key with recovery keys")
            shares = threshold = 1
        from .cluster import _validate_seal_config
        err = _validate_seal_config(shares, threshold, pgp_keys)
        if err:
            raise SimError(500, "invalid rekey seal configuration: " + err)
        if self.rekey_config(leader, target) is not None:
            raise SimError(400, "rekey already in progress")
        parsed = [pgp.parse_public_key(base64.b64decode(k)) for k in pgp_keys]
        cfg = RekeyConfig(shares, threshold, parsed, backup, verify, now)
        self.set_rekey_config(leader, target, cfg)
        self.m.log(leader, "INFO", "core: rekey initialized: nonce=%s shares=%d threshold=%d "
                   "validation_required=%s" % (cfg.nonce, shares, threshold, str(verify).lower()), now)
        return self._status_doc(leader, target, cfg)

    def _cancel_needs_nonce(self):
        """§2.7: Vault 1.20.0+, and the backports 1.19.6, 1.18.11, 1.17.18, 1.16.21."""
        v = self.m.vtuple
        if self.m.openbao:
            return False
        if v >= (1, 20, 0):
            return True
        since = CANCEL_NONCE_SINCE.get(tuple(v[:2]))
        return since is not None and v[2] >= since

    def rekey_cancel(self, request, leader, target, body, now):
        cfg = self.rekey_config(leader, target)
        if cfg is not None and self._cancel_needs_nonce():
            deadline = float(self.m.opt.get(CANCEL_DEADLINE_OPTION, 600))
            if body.get("nonce") != cfg.nonce and now - cfg.created < deadline:
                raise SimError(400, "invalid request")
        self.set_rekey_config(leader, target, None)
        return None

    def rekey_update(self, request, leader, target, body, now):
        self._target_supported(target)
        key = _decode_key(body)
        cfg = self.rekey_config(leader, target)
        if cfg is None:
            raise SimError(400, "no %s rekey in progress" % target)
        if cfg.verification_key is not None:
            raise SimError(400, "rekey operation already finished; verification must be performed; nonce "
                                "for the verification operation is \"%s\"" % cfg.verification_nonce)
        nonce = body.get("nonce", "")
        if nonce != cfg.nonce:
            raise SimError(400, "incorrect nonce supplied; nonce for this rekey operation is \"%s\"" % cfg.nonce)
        if any(secrets.compare_digest(p, key) for p in cfg.progress):
            what = "generation" if target == "barrier" else "rekey"     # sic, §2.5
            raise SimError(400, "given key has already been provided during this %s operation" % what)
        cfg.progress.append(key)
        rc = leader.rc
        if len(cfg.progress) < rc.threshold:
            return self._status_doc(leader, target, cfg)
        parts, cfg.progress = cfg.progress, []           # progress resets before the check (§2.5)
        combined = _combine(parts)
        if open_blob(combined, rc.keyring_blob) is None:
            if self._recovery_keys():
                # §2.5: recovery shares (the recovery target, and the barrier on auto-unseal)
                raise SimError(400, "recovery key verification failed: recovery key does not match "
                                    "submitted values")
            raise SimError(400, "rootter key verification failed: cipher: message authentication failed")
        if target == "barrier" and self._recovery_keys():
            # §2.8: the root key is rotated and stored by the seal; no share is returned and
            # the recovery shares stay what they were.
            rc.barrier_key_term = getattr(rc, "barrier_key_term", 0) + 1
            rc.bump()
            self.set_rekey_config(leader, target, None)
            self.m.log(leader, "INFO", "core: security barrier rekeyed: stored=1 shares=1 threshold=1", now)
            return {"nonce": nonce, "complete": True, "keys": [], "keys_base64": [],
                    "pgp_fingerprints": None, "backup": False, "verification_required": False}
        new_key = secrets.token_bytes(32)
        shares = [new_key] if cfg.shares == 1 else shamir.split(new_key, cfg.shares, cfg.threshold)
        if cfg.pgp_keys:
            # The plaintext of each encrypted share is its hex string (§2.4).
            shares = [pgp.encrypt(k, s.hex().encode()) for k, s in zip(cfg.pgp_keys, shares)]
        if cfg.backup:
            rc.cer_backup = {"nonce": cfg.nonce, "keys": {fp: [s.hex()] for fp, s in
                                                          zip(cfg.fingerprints(), shares)}}
        resp = {"nonce": nonce, "complete": True, "keys": [s.hex() for s in shares],
                "keys_base64": [base64.b64encode(s).decode() for s in shares],
                "pgp_fingerprints": cfg.fingerprints(), "backup": cfg.backup,
                "verification_required": cfg.verify}
        if cfg.verify:
            cfg.verification_key = new_key
            cfg.verification_nonce = str(uuid.uuid4())
            resp["verification_nonce"] = cfg.verification_nonce
        else:
            self._activate(leader, target, cfg, new_key, now)
        return resp

    def _activate(self, leader, target, cfg, new_key, now):
        """The new shares protect the keyring from now on: the old ones stop working."""
        rc = leader.rc
        rc.unseal_key = new_key
        rc.keyring_blob = seal_blob(new_key, rc.barrier_key)
        rc.shares = cfg.shares
        rc.threshold = cfg.threshold
        rc.bump()
        self.set_rekey_config(leader, target, None)
        self.m.log(leader, "INFO", "core: rekey complete: shares=%d threshold=%d" % (cfg.shares, cfg.threshold), now)

    def _verify_doc(self, cfg):
        started = cfg is not None and cfg.verification_key is not None
        return {"nonce": cfg.verification_nonce if started else "", "started": started,
                "t": cfg.threshold if cfg else 0, "n": cfg.shares if cfg else 0,
                "progress": len(cfg.verification_progress) if started else 0}

    def verify_status(self, request, leader, target, body, now):
        self._target_supported(target)
        return self._verify_doc(self.rekey_config(leader, target))

    def verify_update(self, request, leader, target, body, now):
        self._target_supported(target)
        key = _decode_key(body)
        cfg = self.rekey_config(leader, target)
        if cfg is None:
            raise SimError(400, "no rekey in progress")
        if cfg.verification_key is None:
            raise SimError(400, "no rekey verification in progress")
        if body.get("nonce", "") != cfg.verification_nonce:
            raise SimError(400, "incorrect nonce supplied; nonce for this verify operation is \"%s\""
                           % cfg.verification_nonce)
        if any(secrets.compare_digest(p, key) for p in cfg.verification_progress):
            raise SimError(400, "given key has already been provided during this verify operation")
        cfg.verification_progress.append(key)
        if len(cfg.verification_progress) < cfg.threshold:
            return self._verify_doc(cfg)
        parts, cfg.verification_progress = cfg.verification_progress, []
        combined = _combine(parts)
        if not secrets.compare_digest(combined, cfg.verification_key):
            cfg.verification_nonce = str(uuid.uuid4())      # §2.6: a failed verification rotates it
            raise SimError(400, "rekey verification failed; incorrect key shares supplied")
        vnonce = cfg.verification_nonce
        self._activate(leader, target, cfg, cfg.verification_key, now)
        return {"nonce": vnonce, "complete": True}

    def verify_restart(self, request, leader, target, body, now):
        cfg = self.rekey_config(leader, target)
        if cfg is not None and cfg.verification_key is not None:
            cfg.verification_progress = []
            cfg.verification_nonce = str(uuid.uuid4())
        return None

    # ------------------------------------------------------------ generate-root (§3)
    def otp_length(self, rc):
        return len(rc.root_token)       # prefix + 24: 28 for hvs., 26 for s. (§3.3)

    def _root_doc(self, leader, a, otp_length=None):
        rc = leader.rc
        return {"nonce": a.nonce if a else "", "started": a is not None,
                "progress": len(a.progress) if a else 0, "required": rc.threshold, "complete": False,
                "encoded_token": "", "encoded_root_token": "",
                "pgp_fingerprint": a.pgp_key.fingerprint.hex() if (a and a.pgp_key) else "",
                "otp": "", "otp_length": self.otp_length(rc) if otp_length is None else otp_length}

    def root_status(self, request, leader, target, body, now):
        return self._root_doc(leader, self.root_attempt(leader))

    def root_init(self, request, leader, target, body, now):
        if self.root_attempt(leader) is not None:
            raise SimError(400, "root generation already in progress")
        otp = body.get("otp") or ""
        pgp_b64 = body.get("pgp_key") or ""
        generated = ""
        key = None
        if pgp_b64:
            try:
                key = pgp.parse_public_key(base64.b64decode(pgp_b64))
            except Exception as e:  # noqa: BLE001 - the Go error text is what matters
                raise SimError(400, "error parsing PGP key: %s" % e)
        elif otp:
            if len(otp) != self.otp_length(leader.rc):
                raise SimError(400, "OTP string has incorrect length" if self.m.openbao
                               else "OTP string is wrong length")
        else:
            generated = otp = _rand_token_chars(self.otp_length(leader.rc))
        a = RootAttempt(otp, key)
        self.set_root_attempt(leader, a)
        self.m.log(leader, "INFO", "core: root generation initialized: nonce=%s" % a.nonce, now)
        doc = self._root_doc(leader, a)
        doc["otp"] = generated
        return doc

    def root_cancel(self, request, leader, target, body, now):
        self.set_root_attempt(leader, None)
        return None

    def root_update(self, request, leader, target, body, now):
        key = _decode_key(body)
        a = self.root_attempt(leader)
        if a is None:
            raise SimError(400, "no root generation in progress")
        if body.get("nonce", "") != a.nonce:
            raise SimError(400, "incorrect nonce supplied; nonce for this root generation operation is \"%s\""
                           % a.nonce)
        if any(secrets.compare_digest(p, key) for p in a.progress):
            raise SimError(400, "given key has already been provided during this generation operation")
        a.progress.append(key)
        rc = leader.rc
        doc = self._root_doc(leader, a, otp_length=0)     # update answers carry no OTP length (§3.2)
        doc["nonce"] = body.get("nonce", "")
        if len(a.progress) < rc.threshold:
            return doc
        parts, a.progress = a.progress, []
        combined = _combine(parts)
        if open_blob(combined, rc.keyring_blob) is None:
            raise SimError(400, "root generation aborted: root key verification failed: cipher: message "
                                "authentication failed")
        prefix = rc.root_token[:rc.root_token.index(".") + 1]
        token = prefix + _rand_token_chars(24)
        rc.tokens[token] = {"policies": ["root"]}
        rc.bump()
        if a.pgp_key is not None:
            encoded = base64.b64encode(pgp.encrypt(a.pgp_key, token.encode())).decode()
        else:
            xored = bytes(x ^ y for x, y in zip(token.encode(), a.otp.encode()))
            encoded = base64.b64encode(xored).decode().rstrip("=")      # RawStdEncoding (§3.3)
        self.set_root_attempt(leader, None)
        self.m.log(leader, "INFO", "core: root generation finished", now)
        doc.update(progress=rc.threshold, complete=True, encoded_token=encoded, encoded_root_token=encoded)
        return doc

    # ------------------------------------------------------------ rotate, key-status (§4)
    def _term(self, rc):
        if not hasattr(rc, "cer_term"):
            rc.cer_term = (1, time.time_ns())
        return rc.cer_term

    async def rotate(self, request, node, now):
        leader = self.vc._active(node)
        self._require(request, leader.rc, "sys/rotate", "update", "sudo")
        term, _ = self._term(leader.rc)
        leader.rc.cer_term = (term + 1, time.time_ns())
        leader.rc.bump()
        return web.Response(status=204)

    async def key_status(self, request, node, now):
        leader = self.vc._active(node)
        self._require(request, leader.rc, "sys/key-status", "read")
        term, installed = self._term(leader.rc)
        data = {"term": term, "install_time": rfc3339nano(installed), "encryptions": 0}
        out = _logical(data)
        out.update(data)            # injectDataIntoTopRoutes (§2.2)
        return _json(200, out)


class _Body:
    """A read body offered again to VaultCluster._body_json."""

    def __init__(self, raw):
        self._raw = raw

    async def read(self):
        return self._raw
