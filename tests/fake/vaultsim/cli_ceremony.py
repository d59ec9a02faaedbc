"""The simulated CLI's key ceremonies: `operator rekey` (OpenBao: also `rotate-keys`),
`operator generate-root`, `operator rotate`, `operator key-status`, with the flags, JSON shapes,
texts, streams and exit codes of docs/ceremonies.md (sections cited below). cli.COMMANDS
names them and imports this file when one of them runs. Standard library only."""
import base64
import os
import secrets
import string

from .cli import (APIError, FlagSet, UI, _client, _json_obj, _password_read, format_flags, http_flags,
                  output_data)
from .goish import table_output, wrap_at_length


def _unwrap(obj):
    """OpenBao's authenticated paths answer with logical responses: the struct is under data."""
    if isinstance(obj, dict) and isinstance(obj.get("data"), dict) and "request_id" in obj:
        return obj["data"]
    return obj or {}


def _read_stdin_all():
    chunks = []
    while True:
        c = os.read(0, 65536)
        if not c:
            break
        chunks.append(c)
    return b"".join(chunks).decode("utf-8", "replace")


def _prompt_key(ctx, label):
    """§1.2: the prompt text goes to stdout; the key is read from the TTY without echo."""
    UI._write(1, label)
    try:
        value, err = _password_read(), None
    except OSError as e:
        value, err = "", str(e)
    UI._write(1, "\n")
    if err is not None:
        ctx.ui.error(wrap_at_length(
            "An error occurred attempting to ask for the unseal key. The raw error message is shown "
            "below, but usually this is because you attempted to pipe a value into the command or you "
            "are executing outside of a terminal (tty). If you want to pipe the value, pass \"-\" as "
            "the argument to read from stdin. The raw error was: %s" % err))
        return None
    return value.strip()


def _provide(ctx, args, nonce, status_nonce, nonce_label, key_label):
    """provide(): KEY argument, "-" (stdin to EOF) or the TTY prompt (nonce filled in).
    Returns (key, nonce) or an exit code."""
    if len(args) > 1:
        ctx.ui.error("Too many arguments (expected 0-1, got %d)" % len(args))
        return 1
    key = args[0] if args else ""
    if key == "":
        if ctx.openbao and ctx.non_interactive:
            ctx.ui.error("Refusing to read from stdin with -non-interactive specified; specify nonce "
                         "via the -nonce flag")
            return 1
        UI._write(1, "%s: %s\n" % (nonce_label, status_nonce))
        key = _prompt_key(ctx, key_label)
        if key is None:
            return 1
        return key, status_nonce
    if key == "-":
        key = _read_stdin_all().strip()
    if not nonce:
        ctx.ui.error("Missing nonce value: specify it via the -nonce flag")
        return 1
    return key, nonce


# ---------------------------------------------------------------- operator rekey (§2)
STATUS_FIELDS = ("nonce", "started", "t", "n", "progress", "required", "pgp_fingerprints", "backup",
                 "verification_required", "verification_nonce")


def _rekey_status_struct(obj, openbao):
    """api.RekeyStatusResponse (OpenBao's RotateStatusResponse adds complete/keys in front)."""
    out = {}
    if openbao:
        for k in ("complete", "keys", "keys_base64"):
            if obj.get(k):
                out[k] = obj[k]
    defaults = {"nonce": "", "started": False, "t": 0, "n": 0, "progress": 0, "required": 0,
                "pgp_fingerprints": None, "backup": False, "verification_required": False,
                "verification_nonce": ""}
    for k in STATUS_FIELDS:
        out[k] = obj.get(k, defaults[k])
    return out


def _rekey_status_table(ctx, s):
    prog = "%d/%d" % (s["progress"], s["required"])
    if s["progress"] == s["required"] and s["verification_nonce"]:
        prog += " (verification in progress)"
    rows = ["Key | Value", "Nonce | %s" % s["nonce"], "Started | %s" % str(s["started"]).lower(),
            "%s | %s" % ("Progress" if ctx.openbao else "Rekey Progress", prog),
            "New Shares | %d" % s["n"], "New Threshold | %d" % s["t"],
            "Verification Required | %s" % str(s["verification_required"]).lower()]
    if s["verification_nonce"]:
        rows.append("Verification Nonce | %s" % s["verification_nonce"])
    if s["pgp_fingerprints"]:
        rows.append("PGP Fingerprints | [%s]" % " ".join(s["pgp_fingerprints"]))
        rows.append("Backup | %s" % str(s["backup"]).lower())
    return table_output(rows)


def _verify_struct(obj):
    return {k: obj.get(k, d) for k, d in (("nonce", ""), ("started", False), ("t", 0), ("n", 0),
                                           ("progress", 0))}


def _verify_table(s):
    return table_output(["Key | Value", "Started | %s" % str(s["started"]).lower(),
                         "New Shares | %d" % s["n"], "New Threshold | %d" % s["t"],
                         "Verification Nonce | %s" % s["nonce"],
                         "Verification Progress | %d/%d" % (s["progress"], s["t"])])


def _rekey(ctx, args, rotate_keys):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    for name in ("init", "cancel", "status", "verify", "backup", "backup-retrieve", "backup-delete"):
        fs.add(name, "bool", False)
    fs.add("key-shares", "int", 5, aliases=("n",))
    fs.add("key-threshold", "int", 3, aliases=("t",))
    fs.add("nonce", "string", "")
    fs.add("target", "string", "barrier")
    fs.add("pgp-keys", "pgpfiles", [])
    args = fs.parse(args)
    ctx.non_interactive = fs["non-interactive"]
    if ctx.openbao and not rotate_keys:
        ctx.ui.warn("WARNING: this method is deprecated, please use: $ bao operator rotate-keys")
    target = fs["target"].lower()
    if target == "hsm":
        target = "recovery"
    if target not in ("barrier", "recovery"):
        ctx.ui.error("Unknown target: %s" % fs["target"])
        return 1
    if rotate_keys:
        prefix = "sys/rotate/root" if target == "barrier" else "sys/rotate/recovery"
    else:
        prefix = "sys/rekey" if target == "barrier" else "sys/rekey-recovery-key"
    client = _client(ctx, fs)
    if fs["backup-delete"] or fs["backup-retrieve"]:
        ctx.ui.error("Error: backup retrieval is not simulated")
        return 2
    if fs["cancel"]:
        if args:
            ctx.ui.error("Too many arguments (expected 0, got %d)" % len(args))
            return 1
        if fs["verify"] and fs["nonce"]:
            ctx.ui.error("The -nonce flag is not valid with the -verify flag")
            return 1
        try:
            if fs["verify"]:
                client.checked("DELETE", prefix + "/verify")
            else:
                client.checked("DELETE", prefix + "/init", {"nonce": fs["nonce"]} if fs["nonce"] else None)
        except APIError as e:
            ctx.ui.error("Error canceling rekey: %s" % e)
            return 2
        ctx.ui.output("Success! Canceled rekeying (if it was started)")
        return 0
    if fs["init"]:
        if args:
            ctx.ui.error("Too many arguments (expected 0, got %d)" % len(args))
            return 1
        req = {"secret_shares": fs["key-shares"], "secret_threshold": fs["key-threshold"], "stored_shares": 0,
               "pgp_keys": fs["pgp-keys"] or None, "Backup": fs["backup"],
               "require_verification": fs["verify"]}
        try:
            obj = _unwrap(_json_obj(client.checked("PUT", prefix + "/init", req)))
        except APIError as e:
            ctx.ui.error("Error initializing rekey: %s" % e)
            return 2
        s = _rekey_status_struct(obj, ctx.openbao)
        if ctx.ui.format == "table":
            if fs["pgp-keys"] and not fs["backup"]:
                ctx.ui.warn(wrap_at_length(
                    "WARNING! You are using PGP keys for encrypted the resulting unseal keys, but you did "
                    "not enable the option to backup the keys to %s's core. If you lose the encrypted keys "
                    "after they are returned, you will not be able to recover them." % ctx.product) + "\n")
            elif not fs["pgp-keys"]:
                ctx.ui.warn(wrap_at_length(
                    "WARNING! If you lose the keys after they are returned, there is no recovery. "
                    "Consider canceling this operation and re-initializing with the -pgp-keys flag to "
                    "protect the returned unseal keys along with -backup to allow recovery of the "
                    "encrypted keys in case of emergency.") + "\n")
        return output_data(ctx, s, table=lambda: _rekey_status_table(ctx, s))
    if fs["status"]:
        if args:
            ctx.ui.error("Too many arguments (expected 0, got %d)" % len(args))
            return 1
        try:
            obj = _unwrap(_json_obj(client.checked("GET", prefix + ("/verify" if fs["verify"] else "/init"))))
        except APIError as e:
            ctx.ui.error("Error reading rekey status: %s" % e)
            return 2
        if fs["verify"]:
            s = _verify_struct(obj)
            return output_data(ctx, s, table=lambda: _verify_table(s))
        s = _rekey_status_struct(obj, ctx.openbao)
        return output_data(ctx, s, table=lambda: _rekey_status_table(ctx, s))
    return _rekey_submit(ctx, client, fs, args, prefix, target)


def _rekey_submit(ctx, client, fs, args, prefix, target):
    path = prefix + ("/verify" if fs["verify"] else "/init")
    try:
        status = _unwrap(_json_obj(client.checked("GET", path)))
    except APIError as e:
        ctx.ui.error("Error reading rekey status: %s" % e)
        return 2
    if not status.get("started"):
        ctx.ui.error('No rekey is in progress. Start a rekey process by running "%s operator %s -init".'
                     % (ctx.binary, "rotate-keys" if prefix.startswith("sys/rotate") else "rekey"))
        return 1
    label = "Recovery Key (will be hidden): " if target == "recovery" else "Unseal Key (will be hidden): "
    got = _provide(ctx, args, fs["nonce"], status.get("nonce", ""), "Rekey operation nonce", label)
    if isinstance(got, int):
        return got
    key, nonce = got
    try:
        obj = _unwrap(_json_obj(client.checked(
            "PUT", prefix + ("/verify" if fs["verify"] else "/update"), {"key": key, "nonce": nonce})))
    except APIError as e:
        ctx.ui.error("Error posting unseal key: %s" % e)
        return 2
    if fs["verify"]:
        if obj.get("complete"):
            ctx.ui.output(wrap_at_length("Rekey verification successful. The rekey operation is complete "
                                         "and the new keys are now active."))
            return 0
        try:
            s = _verify_struct(_unwrap(_json_obj(client.checked("GET", prefix + "/verify"))))
        except APIError as e:
            ctx.ui.error("Error reading rekey status: %s" % e)
            return 2
        return output_data(ctx, s, table=lambda: _verify_table(s))
    if not obj.get("complete"):
        # §2.4: a submit that does not complete prints a fresh status GET.
        try:
            s = _rekey_status_struct(_unwrap(_json_obj(client.checked("GET", prefix + "/init"))), ctx.openbao)
        except APIError as e:
            ctx.ui.error("Error reading rekey status: %s" % e)
            return 2
        return output_data(ctx, s, table=lambda: _rekey_status_table(ctx, s))
    out = {"nonce": obj.get("nonce", ""), "complete": True, "keys": obj.get("keys") or [],
           "keys_base64": obj.get("keys_base64") or [], "pgp_fingerprints": obj.get("pgp_fingerprints"),
           "backup": bool(obj.get("backup")), "verification_required": bool(obj.get("verification_required"))}
    if obj.get("verification_nonce"):
        out["verification_nonce"] = obj["verification_nonce"]
    if ctx.ui.format != "table":
        return output_data(ctx, out)
    fps = out["pgp_fingerprints"] or []
    for i, k in enumerate(out["keys_base64"]):
        if fps:
            ctx.ui.output("Key %d fingerprint: %s; value: %s" % (i + 1, fps[i], k))
        else:
            ctx.ui.output("Key %d: %s" % (i + 1, k))
    ctx.ui.output("")
    ctx.ui.output("Operation nonce: %s" % out["nonce"])
    ctx.ui.output("")
    what = "recovery" if target == "recovery" else "unseal"
    if ctx.openbao:
        head = "OpenBao %s keys rekeyed to" % what
    else:
        head = "Vault %s keys rekeyed with" % what
    ctx.ui.output(wrap_at_length(
        "%s %d key shares and a key threshold of %d. Please securely distribute the key shares printed "
        "above." % (head, len(out["keys_base64"]), int(status.get("t") or 0))))
    return 0


def cmd_rekey(ctx, args):
    return _rekey(ctx, args, rotate_keys=False)


def cmd_rotate_keys(ctx, args):
    if not ctx.openbao:
        return 127      # OpenBao only (§6): Vault has no such command
    return _rekey(ctx, args, rotate_keys=True)


# ---------------------------------------------------------------- operator generate-root (§3)
ROOT_FIELDS = (("nonce", ""), ("started", False), ("progress", 0), ("required", 0), ("complete", False),
               ("encoded_token", ""), ("encoded_root_token", ""), ("pgp_fingerprint", ""), ("otp", ""),
               ("otp_length", 0))


def _root_struct(obj):
    return {k: obj.get(k, d) for k, d in ROOT_FIELDS}


def _root_table(s):
    rows = ["Key | Value", "Nonce | %s" % s["nonce"], "Started | %s" % str(s["started"]).lower(),
            "Progress | %d/%d" % (s["progress"], s["required"]), "Complete | %s" % str(s["complete"]).lower()]
    if s["pgp_fingerprint"]:
        rows.append("PGP Fingerprint | %s" % s["pgp_fingerprint"])
    if s["encoded_token"]:
        rows.append("Encoded Token | %s" % s["encoded_token"])
    if s["otp"]:
        rows.append("OTP | %s" % s["otp"])
    rows.append("OTP Length | %d" % s["otp_length"])
    return table_output(rows)


def _root_prefix(ctx, recovery):
    if recovery:
        return "sys/generate-recovery-token"
    if ctx.openbao and ctx.vtuple() >= (2, 6, 0):
        return "sys/generate-root-token"       # §6: authenticated since 2.6.0
    return "sys/generate-root"


def _decode_token(encoded, otp):
    pad = "=" * (-len(encoded) % 4)
    if pad and encoded.endswith("="):
        raise ValueError("error decoding base64'd token: illegal base64 data at input byte %d" % len(encoded))
    try:
        raw = base64.b64decode(encoded + pad, validate=True)
    except ValueError:
        raise ValueError("error decoding base64'd token: illegal base64 data at input byte 0")
    if len(raw) != len(otp):
        raise ValueError("error xoring token: length of byte slices is not equivalent: %d != %d"
                         % (len(raw), len(otp)))
    return bytes(a ^ b for a, b in zip(raw, otp.encode())).decode("utf-8", "replace")


def cmd_generate_root(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    for name in ("init", "cancel", "status", "generate-otp", "recovery-token"):
        fs.add(name, "bool", False)
    if not ctx.openbao:
        fs.add("dr-token", "bool", False)
    fs.add("decode", "string", "")
    fs.add("otp", "string", "")
    fs.add("pgp-key", "pgpfile", "")
    fs.add("nonce", "string", "")
    args = fs.parse(args)
    ctx.non_interactive = fs["non-interactive"]
    if not ctx.openbao and fs["dr-token"] and fs["recovery-token"]:
        ctx.ui.error("Both -recovery-token and -dr-token flags are set")
        return 1
    prefix = _root_prefix(ctx, fs["recovery-token"])
    client = _client(ctx, fs)

    def status():
        return _root_struct(_unwrap(_json_obj(client.checked("GET", prefix + "/attempt"))))

    if fs["generate-otp"]:
        try:
            length = status()["otp_length"]
        except APIError as e:
            ctx.ui.error("Error getting root generation status: %s" % e)
            return 2
        otp = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))
        if ctx.ui.format == "table":
            ctx.ui.output(otp)
            return 0
        return output_data(ctx, {"otp": otp, "otp_length": length})
    if fs["decode"]:
        try:
            status()        # §3.3: -decode asks the status first (denied on 2.x without a token)
        except APIError as e:
            ctx.ui.error("Error getting root generation status: %s" % e)
            return 2
        encoded = fs["decode"]
        if encoded == "-":
            encoded = _read_stdin_all().strip()
        if not fs["otp"]:
            ctx.ui.error("Missing -otp flag; the OTP is required for decoding")
            return 1
        try:
            token = _decode_token(encoded, fs["otp"])
        except ValueError as e:
            ctx.ui.error("Error decoding root token: %s" % e)
            return 1
        if ctx.ui.format == "table":
            ctx.ui.output(token)
            return 0
        return output_data(ctx, {"token": token})
    if fs["cancel"]:
        try:
            client.checked("DELETE", prefix + "/attempt")
        except APIError as e:
            ctx.ui.error("Error canceling root token generation: %s" % e)
            return 2
        ctx.ui.output("Success! Root token generation canceled (if it was started)")
        return 0
    if fs["init"]:
        if fs["otp"] and fs["pgp-key"]:
            ctx.ui.error("Error initializing: cannot specify both -otp and -pgp-key")
            return 1
        try:
            s = _root_struct(_unwrap(_json_obj(client.checked(
                "PUT", prefix + "/attempt", {"otp": fs["otp"], "pgp_key": fs["pgp-key"]}))))
        except APIError as e:
            ctx.ui.error("Error initializing root generation: %s" % e)
            return 2
        if s["otp"] and ctx.ui.format == "table":
            ctx.ui.warn(wrap_at_length(
                "A One-Time-Password has been generated for you and is shown in the OTP field. You will "
                "need this value to decode the resulting root token, so keep it safe."))
        return output_data(ctx, s, table=lambda: _root_table(s))
    if fs["status"]:
        try:
            s = status()
        except APIError as e:
            ctx.ui.error("Error getting root generation status: %s" % e)
            return 2
        return output_data(ctx, s, table=lambda: _root_table(s))
    try:
        st = status()
    except APIError as e:
        ctx.ui.error("Error getting root generation status: %s" % e)
        return 2
    if not st["started"]:
        ctx.ui.error('No root generation is in progress. Start a root generation by running "%s operator '
                     'generate-root -init".' % ctx.binary)
        ctx.ui.warn("Please note that the OTP length is %d; an OTP of that length must be provided to -otp "
                    "when starting a root generation." % st["otp_length"])
        return 1
    got = _provide(ctx, args, fs["nonce"], st["nonce"], "Operation nonce", "Unseal Key (will be hidden): ")
    if isinstance(got, int):
        return got
    key, nonce = got
    try:
        s = _root_struct(_unwrap(_json_obj(client.checked("PUT", prefix + "/update",
                                                           {"key": key, "nonce": nonce}))))
    except APIError as e:
        ctx.ui.error("Error posting unseal key: %s" % e)
        return 2
    return output_data(ctx, s, table=lambda: _root_table(s))


# ---------------------------------------------------------------- rotate, key-status (§4)
def _key_status(ctx, client):
    obj = _json_obj(client.checked("GET", "sys/key-status")) or {}
    data = obj.get("data") if isinstance(obj.get("data"), dict) else obj
    return {"term": data.get("term", 0), "install_time": data.get("install_time", ""),
            "encryptions": data.get("encryptions", 0)}


def _key_status_table(s):
    return table_output(["Key | Value", "Key Term | %d" % s["term"], "Install Time | %s" % s["install_time"],
                         "Encryption Count | %d" % s["encryptions"]])


def _no_args(ctx, fs, args):
    args = fs.parse(args)
    if args:
        ctx.ui.error("Too many arguments (expected 0, got %d)" % len(args))
        return False
    return True


def cmd_rotate(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    if not _no_args(ctx, fs, args):
        return 1
    client = _client(ctx, fs)
    try:
        client.checked("PUT", "sys/rotate")
    except APIError as e:
        ctx.ui.error("Error rotating key: %s" % e)
        return 2
    try:
        s = _key_status(ctx, client)
    except APIError as e:
        ctx.ui.error("Error reading key status: %s" % e)
        return 2
    if ctx.ui.format == "table":
        ctx.ui.output("Success! Rotated key")
        ctx.ui.output("")
    return output_data(ctx, s, table=lambda: _key_status_table(s))


def cmd_key_status(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    if not _no_args(ctx, fs, args):
        return 1
    client = _client(ctx, fs)
    try:
        s = _key_status(ctx, client)
    except APIError as e:
        ctx.ui.error("Error reading key status: %s" % e)
        return 2
    return output_data(ctx, s, table=lambda: _key_status_table(s))

