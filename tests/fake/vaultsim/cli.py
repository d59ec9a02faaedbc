"""The simulated `vault` / `bao` command line (run inside the fake pods as a real process).

It parses argv like the Go CLI (mitchellh/cli nested commands, Go `flag` semantics, Vault's
global -format pre-parse), reads the same environment (VAULT_*, BAO_* with VAULT_* fallback
in OpenBao mode), talks HTTP to its node the way the api package does (X-Vault-Token,
X-Vault-Request, one followed redirect) and prints results and errors with the real texts,
streams and exit codes. Sources: docs/vault-cli.md, sections cited per command.

Transport: requests go to $FAKE_VAULT_ENDPOINT (the fake API server) carrying the address the
real client would dial in X-Fake-Vault-Addr; see vaultsim/cluster.py. Error texts always show
VAULT_ADDR-based URLs, like the real client.

Only the standard library is used (fast start-up).
"""
import json
import os
import urllib.parse

from .goish import go_json, table_output, wrap_at_length

EXIT_HELP = 127


# ============================================================ UI
class UI:
    """mitchellh/cli BasicUi/ColoredUi: Output/Info to stdout, Error/Warn to stderr, "\\n" appended."""

    def __init__(self, fmt: str, color: bool):
        self.format = fmt
        self.color = color

    @staticmethod
    def _write(fd: int, s: str):
        data = s.encode("utf-8", "surrogateescape")
        while data:
            n = os.write(fd, data)
            data = data[n:]

    def output(self, s: str):
        self._write(1, s + "\n")

    info = output

    def error(self, s: str):
        if self.color:
            s = "\033[0;31m" + s + "\033[0m"
        self._write(2, s + "\n")

    def warn(self, s: str):
        if self.color:
            s = "\033[0;33m" + s + "\033[0m"
        self._write(2, s + "\n")


class Exit(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


# ============================================================ environment
class Env:
    """VAULT_* variables; OpenBao reads BAO_<X> first and falls back to VAULT_<X> (docs/vault-cli.md §8:
    api/env.go ReadBaoVariable; BAO_ADDR wins even when set to an empty string)."""

    def __init__(self, flavor: str):
        self.openbao = flavor == "openbao"

    def get(self, name: str) -> str:
        if self.openbao:
            v = os.environ.get("BAO_" + name)
            if v is not None:
                return v
        return os.environ.get("VAULT_" + name, "")


# ============================================================ Go flag parsing
class FlagError(Exception):
    pass


class HelpRequested(Exception):
    pass


def _parse_bool(s: str) -> bool:
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError('strconv.ParseBool: parsing "%s": invalid syntax' % s)


def _parse_int(s: str) -> int:
    try:
        return int(s, 0)
    except ValueError:
        raise ValueError('strconv.ParseInt: parsing "%s": invalid syntax' % s)


class FlagSet:
    """Go's flag.FlagSet (ContinueOnError, output discarded) with Vault's aliases and env defaults."""

    def __init__(self):
        self.defs = {}      # name -> (kind, canonical)
        self.values = {}

    def add(self, name, kind, default=None, aliases=(), env_value=None):
        canon = name
        for n in (name,) + tuple(aliases):
            self.defs[n] = (kind, canon)
        if env_value not in (None, ""):
            try:
                default = self._convert(kind, env_value)
            except ValueError:
                pass
        if kind == "strings":
            default = list(default or [])
        self.values[canon] = default

    @staticmethod
    def _convert(kind, value):
        if kind == "bool":
            return _parse_bool(value)
        if kind == "int":
            return _parse_int(value)
        return value

    def parse(self, args):
        args = list(args)
        while args:
            s = args[0]
            if len(s) < 2 or s[0] != "-":
                break
            minuses = 1
            if s[1] == "-":
                minuses = 2
                if len(s) == 2:
                    args.pop(0)
                    break
            name = s[minuses:]
            if not name or name[0] in "-=":
                raise FlagError("bad flag syntax: %s" % s)
            args.pop(0)
            has_value = False
            value = ""
            eq = name.find("=", 1)
            if eq > 0:
                name, value, has_value = name[:eq], name[eq + 1:], True
            d = self.defs.get(name)
            if d is None:
                if name in ("help", "h"):
                    raise HelpRequested()
                raise FlagError("flag provided but not defined: -%s" % name)
            kind, canon = d
            if kind == "bool":
                if has_value:
                    try:
                        self.values[canon] = _parse_bool(value)
                    except ValueError as e:
                        raise FlagError('invalid boolean value "%s" for -%s: %s' % (value, name, e))
                else:
                    self.values[canon] = True
                continue
            if not has_value and args:
                value = args.pop(0)
                has_value = True
            if not has_value:
                raise FlagError("flag needs an argument: -%s" % name)
            try:
                if kind == "strings":
                    self.values[canon].append(value)
                elif kind == "pgpfiles":
                    self.values[canon] = _pgp_files(value, self.values[canon])
                elif kind == "pgpfile":
                    self.values[canon] = _pgp_file(value)
                else:
                    self.values[canon] = self._convert(kind, value)
            except ValueError as e:
                raise FlagError('invalid value "%s" for flag -%s: %s' % (value, name, e))
        return args

    def __getitem__(self, k):
        return self.values[k]


def _read_pgp(path: str) -> str:
    """pgpkeys.ReadPGPFile: armored keyring -> base64 of the binary key; base64 text as is;
    anything else base64-encoded."""
    import base64
    from .pgp import armor_decode
    if path.startswith("@"):
        path = path[1:]
    pod_fs = os.environ.get("FAKE_POD_FS")
    if pod_fs and path.startswith("/tmp/"):
        path = pod_fs + path  # the pod's own /tmp (fakekube)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ValueError("open %s: %s" % (path, _errno_text(e)))
    text = raw.decode("latin-1")
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" in text:
        try:
            return base64.b64encode(armor_decode(text)).decode()
        except Exception:  # noqa: BLE001
            pass
    try:
        base64.b64decode(text.encode("latin-1"), validate=True)
        return text
    except Exception:  # noqa: BLE001
        return base64.b64encode(raw).decode()


def _keybase(users):
    return ValueError('Get "https://keybase.io/_/api/1.0/user/lookup.json?usernames=%s&fields=public_keys": '
                      "dial tcp: lookup keybase.io on 10.96.0.10:53: no such host" % ",".join(users))


def _pgp_files(value, current):
    if current:
        raise ValueError("can only be specified once")
    entries = value.split(",")
    kb = [e[len("keybase:"):] for e in entries if e.startswith("keybase:")]
    if kb:
        raise _keybase(kb)
    return [_read_pgp(e) for e in entries]


def _pgp_file(value):
    if value.startswith("keybase:"):
        raise _keybase([value[len("keybase:"):]])
    return _read_pgp(value)


def _errno_text(e: OSError) -> str:
    import errno
    texts = {errno.ENOENT: "no such file or directory", errno.EACCES: "permission denied",
             errno.EISDIR: "is a directory", errno.ENOTDIR: "not a directory", errno.ENXIO: "no such device or address"}
    return texts.get(e.errno, (e.strerror or str(e)).lower())


# ============================================================ the client (api package)
class APIError(Exception):
    """An error as the Go api package formats it (ResponseError or url.Error text)."""


class Response:
    def __init__(self, status, headers, body, url, method, conn=None, raw=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.method = method
        self.conn = conn
        self.raw = raw

    def error_text(self):
        """api/response.go: Error making API request ... (None for 200..399)."""
        if 200 <= self.status < 400:
            return None
        body = self.body if self.body is not None else b""
        try:
            obj = json.loads(body) if body.strip() else None
            if not isinstance(obj, dict):
                raise ValueError
            errors = obj.get("errors") or []
            text = ("Error making API request.\n\nURL: %s %s\nCode: %d. Errors:\n\n" % (self.method, self.url, self.status))
            return text + "".join("* %s" % e for e in errors)
        except ValueError:
            return ("Error making API request.\n\nURL: %s %s\nCode: %d. Raw Message:\n\n%s"
                    % (self.method, self.url, self.status, body.decode("utf-8", "replace")))


class Client:
    def __init__(self, ctx, flags):
        env = ctx.env
        self.ctx = ctx
        addr = flags.values.get("address") or ""
        agent = flags.values.get("agent-address") or ""
        self.address = (agent or addr or "https://127.0.0.1:8200").rstrip("/")
        self.token = env.get("TOKEN")
        if not self.token:
            self.token = self._token_file(env)
        self.skip_verify = bool(flags.values.get("tls-skip-verify"))
        self.server_name = flags.values.get("tls-server-name") or ""
        self.disable_redirects = bool(flags.values.get("disable-redirects"))
        self.ca_fps = []
        cacert = flags.values.get("ca-cert") or ""
        capath = flags.values.get("ca-path") or ""
        ca_bytes = env.get("CACERT_BYTES")
        if cacert or capath or ca_bytes:
            self.ca_fps = self._load_ca(cacert, capath, ca_bytes)
        try:
            self.timeout = float(_go_duration_seconds(env.get("CLIENT_TIMEOUT") or "60s"))
        except ValueError:
            self.timeout = 60.0
        self.endpoint = os.environ.get("FAKE_VAULT_ENDPOINT", "")

    @staticmethod
    def _token_file(env):
        path = env.get("TOKEN_PATH") if env.openbao else ""
        if not path:
            path = os.path.join(os.environ.get("HOME", "/"), ".vault-token")
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return ""

    @staticmethod
    def _load_ca(cacert, capath, ca_bytes):
        from .goish import pem_fingerprints
        fps = []
        if ca_bytes:
            fps += pem_fingerprints(ca_bytes)
        if cacert:
            try:
                with open(cacert) as f:
                    pem = f.read()
            except OSError as e:
                raise APIError("Error loading CA File: open %s: %s" % (cacert, _errno_text(e)))
            got = pem_fingerprints(pem)
            if not got:
                raise APIError("Error loading CA File: Couldn't parse PEM in: %s" % cacert)
            fps += got
        elif capath:
            try:
                names = sorted(os.listdir(capath))
            except OSError as e:
                raise APIError("Error loading CA Path: open %s: %s" % (capath, _errno_text(e)))
            for name in names:
                try:
                    with open(os.path.join(capath, name)) as f:
                        fps += pem_fingerprints(f.read())
                except OSError:
                    pass
        return fps

    def url(self, path, query=None, base=None):
        u = (base or self.address) + "/v1/" + path
        if query:
            u += "?" + urllib.parse.urlencode(query)
        return u

    # -- low level
    def _open(self, method, url, body=None, stream=None, timeout=None, follow=True, redirect_prefix=False):
        """One request (and at most one followed redirect). Returns an open Response whose
        .raw is the minihttp response (body unread)."""
        redirected = False
        while True:
            try:
                resp = self._send(method, url, body, stream, timeout)
            except APIError as e:
                if redirected and redirect_prefix:
                    raise APIError("redirect failed: %s" % e)
                raise
            if resp.status in (301, 302, 307) and follow and not redirected and not self.disable_redirects:
                loc = resp.raw.getheader("Location", "")
                resp.raw.read()
                resp.conn.close()
                if url.startswith("https://") and not loc.startswith("https://"):
                    raise APIError("redirect would cause protocol downgrade")
                url = loc
                redirected = True
                continue
            return resp

    def _send(self, method, url, body, stream, timeout):
        op = method[:1] + method[1:].lower()
        target = urllib.parse.urlsplit(url)
        if not self.endpoint:
            host = target.hostname or ""
            raise APIError('%s "%s": dial tcp %s:%s: connect: connection refused'
                           % (op, url, host, target.port or (443 if target.scheme == "https" else 80)))
        ep = urllib.parse.urlsplit(self.endpoint)
        from .minihttp import Connection
        try:
            conn = Connection(ep.hostname, ep.port or (443 if ep.scheme == "https" else 80),
                              tls=ep.scheme == "https", timeout=timeout)
            path = ep.path.rstrip("/") + target.path + ("?" + target.query if target.query else "")
            headers = [("X-Fake-Vault-Addr", "%s://%s" % (target.scheme, target.netloc)),
                       ("X-Fake-Vault-Tls", "skip=%d;sni=%s;ca=%s" % (1 if self.skip_verify else 0, self.server_name,
                                                                      ",".join(self.ca_fps))),
                       ("X-Vault-Request", "true")]
            if self.token:
                headers.append(("X-Vault-Token", self.token))
            if stream is not None:
                conn.send_headers(method, path, headers + [("Transfer-Encoding", "chunked"),
                                                           ("Content-Type", "application/octet-stream")])
                try:
                    while True:
                        chunk = stream()
                        if not chunk:
                            break
                        conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    conn.send(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
            else:
                data = body if body is not None else b""
                if body is not None or method in ("PUT", "POST"):
                    headers.append(("Content-Length", str(len(data))))
                conn.send_headers(method, path, headers)
                if data:
                    conn.send(data)
            raw = conn.response(method)
        except OSError as e:
            if isinstance(e, TimeoutError) or "timed out" in str(e):
                raise APIError('%s "%s": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
                               % (op, url))
            raise APIError('%s "%s": dial tcp %s:%s: connect: connection refused'
                           % (op, url, target.hostname, target.port or 8200))
        terr = raw.getheader("X-Fake-Vault-Transport-Error")
        if raw.status == 502 and terr:
            raw.read()
            conn.close()
            raise APIError('%s "%s": %s' % (op, url, terr))
        return Response(raw.status, raw.headers, None, url, method, conn, raw)

    # -- helpers returning parsed results
    def request(self, method, path, body=None, query=None):
        """RawRequestWithContext: JSON request, full body read, redirect followed once."""
        data = None if body is None else go_json(body, indent=False).encode()
        resp = self._open(method, self.url(path, query), data, None, self.timeout)
        resp.body = resp.raw.read()
        resp.conn.close()
        resp.method = method
        return resp

    def checked(self, method, path, body=None, query=None):
        resp = self.request(method, path, body, query)
        err = resp.error_text()
        if err:
            raise APIError(err)
        return resp


def _go_duration_seconds(s: str) -> float:
    s = s.strip()
    if s.isdigit():
        return float(s)
    total = 0.0
    num = ""
    i = 0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    while i < len(s):
        c = s[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        for u in ("ns", "us", "µs", "ms", "s", "m", "h"):
            if s.startswith(u, i):
                total += float(num) * units[u]
                num = ""
                i += len(u)
                break
        else:
            raise ValueError(s)
    if num:
        raise ValueError(s)
    return total


def _json_obj(resp):
    try:
        return json.loads(resp.body) if resp.body and resp.body.strip() else None
    except ValueError:
        return None


# ============================================================ output formatting
def _fmt_v(v) -> str:
    """Go's %v for decoded JSON values."""
    if v is None:
        return "<nil>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, list):
        return "[" + " ".join(_fmt_v(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join("%s:%s" % (k, _fmt_v(v[k])) for k in sorted(v)) + "]"
    return str(v)


def secret_struct(obj: dict, since_113: bool = True) -> dict:
    """api.ParseSecret then json.Marshal(api.Secret) (field order; data map keys sorted).
    Since Vault 1.13 a body without a "data" field is put into .data whole (docs/vault-cli.md §3)."""
    obj = obj or {}
    if "data" in obj or any(k in obj for k in ("request_id", "lease_id", "auth")):
        data = obj.get("data")
        base = obj
    elif since_113:
        data, base = obj, {}
    else:
        data, base = None, {}
    out = {
        "request_id": base.get("request_id", ""),
        "lease_id": base.get("lease_id", ""),
        "lease_duration": base.get("lease_duration", 0),
        "renewable": base.get("renewable", False),
        "data": {k: data[k] for k in sorted(data)} if isinstance(data, dict) else data,
        "warnings": base.get("warnings"),
    }
    if base.get("auth"):
        out["auth"] = base["auth"]
    if base.get("wrap_info"):
        out["wrap_info"] = base["wrap_info"]
    if base.get("mount_type"):
        out["mount_type"] = base["mount_type"]
    return out


def output_data(ctx, data, table=None, pretty=None) -> int:
    """outputWithFormat: json / yaml / table (callable producing lines) / pretty."""
    fmt = ctx.ui.format
    if fmt == "json":
        ctx.ui.output(go_json(data))
        return 0
    if fmt in ("yaml", "yml"):
        import yaml
        text = yaml.safe_dump(json.loads(json.dumps(data)), default_flow_style=False, sort_keys=True,
                              allow_unicode=True)
        ctx.ui.output(text.strip())
        return 0
    if fmt == "table":
        if table is None:
            ctx.ui.error("Could not parse output: cannot use the table formatter for this type")
            return 1
        text = table()
        if text:
            ctx.ui.output(text)
        return 0
    if fmt == "pretty":
        if pretty is None:
            ctx.ui.error("Could not parse output: cannot use the pretty formatter for this type")
            return 1
        ctx.ui.output(pretty())
        return 0
    if fmt == "raw":
        ctx.ui.error("Could not parse output: This command does not support the -format=raw option; "
                     "only `vault read` does.")
        return 1
    ctx.ui.error("Invalid output format: %s" % fmt)
    return 1


def secret_table(secret: dict) -> str:
    """TableFormatter.OutputSecret."""
    out = []
    hope = "\u2668"
    ld = secret.get("lease_duration") or 0
    if ld > 0:
        if secret.get("lease_id"):
            out.append("lease_id %s %s" % (hope, secret["lease_id"]))
            out.append("lease_duration %s %s" % (hope, _human_duration(ld)))
            out.append("lease_renewable %s %s" % (hope, _fmt_v(secret.get("renewable", False))))
        else:
            out.append("refresh_interval %s %s" % (hope, _human_duration(ld)))
    data = secret.get("data") or {}
    for k in sorted(data):
        v = data[k]
        if _looks_like_duration(k):
            v = _human_duration(v)
        out.append("%s %s %s" % (k, hope, _fmt_v(v)))
    if not out:
        return ""
    return table_output(["Key" + hope + "Value"] + out, delim=hope)


def _looks_like_duration(k: str) -> bool:
    return (k == "period" or k.endswith("_period") or k == "ttl" or k.endswith("_ttl") or k == "duration"
            or k.endswith("_duration") or k in ("lease_max", "ttl_max"))


def _human_duration(v) -> str:
    from .goish import go_duration
    try:
        n = int(v)
    except (TypeError, ValueError):
        return _fmt_v(v)
    return go_duration(n * 1_000_000_000)


# ============================================================ seal status output (docs/vault-cli.md §1, §8)
def seal_status_output(ctx, status: dict, leader: dict) -> dict:
    """command/format.go SealStatusOutput, json.Marshal order and omitempty rules."""
    o = {}
    for k in ("type", "initialized", "sealed", "t", "n", "progress", "nonce", "version"):
        o[k] = status.get(k)
    if "build_date" in status:
        o["build_date"] = status["build_date"]
    if ctx.openbao and "commit_date" in status:
        o["commit_date"] = status["commit_date"]
    o["migration"] = status.get("migration", False)
    for k in ("cluster_name", "cluster_id"):
        if status.get(k):
            o[k] = status[k]
    o["recovery_seal"] = status.get("recovery_seal", False)
    for k in ("recovery_seal_type", "storage_type"):
        if status.get(k):
            o[k] = status[k]
    if not ctx.openbao and "removed_from_cluster" in status:
        o["removed_from_cluster"] = status["removed_from_cluster"]
    if status.get("warnings"):
        o["warnings"] = status["warnings"]
    o["ha_enabled"] = bool(leader.get("ha_enabled"))
    if leader.get("is_self"):
        o["is_self"] = True
    at = leader.get("active_time") or "0001-01-01T00:00:00Z"
    if not ctx.openbao or at != "0001-01-01T00:00:00Z":
        o["active_time"] = at          # Go's omitempty never omits a time.Time; OpenBao's omitzero does
    for k in ("leader_address", "leader_cluster_address"):
        if leader.get(k):
            o[k] = leader[k]
    if not ctx.openbao:
        if leader.get("performance_standby"):
            o["performance_standby"] = True
        if leader.get("performance_standby_last_remote_wal"):
            o["performance_standby_last_remote_wal"] = leader["performance_standby_last_remote_wal"]
        if leader.get("last_wal"):
            o["last_wal"] = leader["last_wal"]
    for k in ("raft_committed_index", "raft_applied_index"):
        if leader.get(k):
            o[k] = leader[k]
    return o


def seal_status_table(o: dict) -> str:
    """TableFormatter.OutputSealStatusStruct."""
    b = lambda v: "true" if v else "false"
    prefix = "Recovery " if o.get("recovery_seal") else ""
    out = ["Key | Value",
           "%sSeal Type | %s" % (prefix, o.get("type", "")),
           "Initialized | %s" % b(o.get("initialized")),
           "Sealed | %s" % b(o.get("sealed")),
           "Total %sShares | %d" % (prefix, o.get("n", 0)),
           "Threshold | %d" % o.get("t", 0)]
    if o.get("sealed"):
        out.append("Unseal Progress | %d/%d" % (o.get("progress", 0), o.get("t", 0)))
        out.append("Unseal Nonce | %s" % o.get("nonce", ""))
    if o.get("migration"):
        out.append("Seal Migration in Progress | true")
    out.append("Version | %s" % o.get("version", ""))
    out.append("Build Date | %s" % o.get("build_date", ""))
    out.append("Storage Type | %s" % o.get("storage_type", ""))
    if o.get("cluster_name") and o.get("cluster_id"):
        out.append("Cluster Name | %s" % o["cluster_name"])
        out.append("Cluster ID | %s" % o["cluster_id"])
    if "removed_from_cluster" in o:
        out.append("Removed From Cluster | %s" % b(o["removed_from_cluster"]))
    out.append("HA Enabled | %s" % b(o.get("ha_enabled")))
    if o.get("ha_enabled") and not o.get("sealed"):
        out.append("HA Cluster | %s" % o.get("leader_cluster_address", ""))
        if o.get("is_self"):
            out.append("HA Mode | active")
            if o.get("active_time", "0001-01-01T00:00:00Z") != "0001-01-01T00:00:00Z":
                out.append("Active Since | %s" % o["active_time"])
        else:
            out.append("HA Mode | standby")
            out.append("Active Node Address | %s" % (o.get("leader_address") or "<none>"))
    if o.get("raft_committed_index"):
        out.append("Raft Committed Index | %d" % o["raft_committed_index"])
    if o.get("raft_applied_index"):
        out.append("Raft Applied Index | %d" % o["raft_applied_index"])
    if o.get("warnings"):
        out.append("Warnings | [%s]" % " ".join(o["warnings"]))
    return table_output(out)


def output_seal_status(ctx, client, status: dict) -> int:
    """command/format.go OutputSealStatus: /sys/leader, with "Vault is sealed" masked."""
    try:
        resp = client.checked("GET", "sys/leader")
        leader = _json_obj(resp) or {}
    except APIError as e:
        if "Vault is sealed" in str(e):
            leader = {"ha_enabled": True}
        else:
            ctx.ui.error("Error checking leader status: %s" % e)
            return 1
    o = seal_status_output(ctx, status, leader)
    return output_data(ctx, o, table=lambda: seal_status_table(o))


# ============================================================ commands
class Ctx:
    def __init__(self, flavor, version, build_date, fmt, ui):
        self.flavor = flavor
        self.openbao = flavor == "openbao"
        self.version = version
        self.build_date = build_date
        self.env = Env(flavor)
        self.ui = ui
        self.product = "OpenBao" if self.openbao else "Vault"
        self.binary = "bao" if self.openbao else "vault"

    def vtuple(self):
        import re
        m = re.match(r"(\d+)\.(\d+)\.(\d+)", self.version)
        return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def http_flags(ctx, fs: FlagSet):
    e = ctx.env
    fs.add("address", "string", "https://127.0.0.1:8200", env_value=e.get("ADDR"))
    fs.add("agent-address", "string", "", env_value=e.get("AGENT_ADDR"))
    fs.add("ca-cert", "string", "", env_value=e.get("CACERT"))
    fs.add("ca-path", "string", "", env_value=e.get("CAPATH"))
    fs.add("client-cert", "string", "", env_value=e.get("CLIENT_CERT"))
    fs.add("client-key", "string", "", env_value=e.get("CLIENT_KEY"))
    fs.add("namespace", "string", "", aliases=("ns",), env_value=e.get("NAMESPACE"))
    fs.add("tls-server-name", "string", "", env_value=e.get("TLS_SERVER_NAME"))
    fs.add("tls-skip-verify", "bool", False, env_value=e.get("SKIP_VERIFY"))
    fs.add("disable-redirects", "bool", False, env_value=e.get("DISABLE_REDIRECTS"))
    fs.add("wrap-ttl", "string", "", env_value=e.get("WRAP_TTL"))
    fs.add("policy-override", "bool", False)
    fs.add("header", "strings", [])
    fs.add("mfa", "strings", [])
    fs.add("output-curl-string", "bool", False)
    fs.add("output-policy", "bool", False)
    fs.add("non-interactive", "bool", False)
    fs.add("unlock-key", "string", "")


def format_flags(ctx, fs: FlagSet):
    fs.add("format", "string", "table", env_value=ctx.env.get("FORMAT"))


def field_flags(ctx, fs: FlagSet):
    fs.add("field", "string", "")


def _client(ctx, fs, code=2):
    try:
        return Client(ctx, fs)
    except APIError as e:
        ctx.ui.error(str(e))
        raise Exit(code)


# ---------------------------------------------------------------- status
def cmd_status(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    args = fs.parse(args)
    if args:
        ctx.ui.error("Too many arguments (expected 0, got %d)" % len(args))
        return 1
    client = _client(ctx, fs, code=1)          # 2 is reserved for "sealed" here
    try:
        status = _json_obj(client.checked("GET", "sys/seal-status")) or {}
    except APIError as e:
        ctx.ui.error("Error checking seal status: %s" % e)
        return 1
    code = output_seal_status(ctx, client, status)
    if status.get("sealed"):
        return 2
    return code


# ---------------------------------------------------------------- operator init (docs/vault-cli.md §2)
def cmd_init(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    fs.add("status", "bool", False)
    fs.add("key-shares", "int", 0, aliases=("n",))
    fs.add("key-threshold", "int", 0, aliases=("t",))
    fs.add("pgp-keys", "pgpfiles", [])
    fs.add("root-token-pgp-key", "pgpfile", "")
    fs.add("recovery-shares", "int", 0)
    fs.add("recovery-threshold", "int", 0)
    fs.add("recovery-pgp-keys", "pgpfiles", [])
    if not ctx.openbao:
        fs.add("stored-shares", "int", -1)
        fs.add("consul-auto", "bool", False)
        fs.add("consul-service", "string", "vault")
    args = fs.parse(args)
    if args:
        ctx.ui.error("Too many arguments (expected 0, got %d)" % len(args))
        return 1
    if not ctx.openbao and fs["stored-shares"] != -1:
        ctx.ui.warn("-stored-shares has no effect and will be removed in Vault 1.3.\n")
    client = _client(ctx, fs)
    if fs["status"]:
        try:
            inited = bool((_json_obj(client.checked("GET", "sys/init")) or {}).get("initialized"))
        except APIError as e:
            ctx.ui.error("Error checking init status: %s" % e)
            return 1
        code = 0 if inited else 2
        if ctx.ui.format == "table":
            ctx.ui.output("%s is initialized" % ctx.product if inited else "%s is not initialized" % ctx.product)
        else:
            output_data(ctx, {"Initialized": inited})
        return code
    if not ctx.openbao and fs["consul-auto"]:
        ctx.ui.error('No Vault nodes registered as "%s" in Consul' % fs["consul-service"])
        return 2
    shares, threshold = fs["key-shares"], fs["key-threshold"]
    rshares, rthreshold = fs["recovery-shares"], fs["recovery-threshold"]
    # 1.12+: the defaults (5/3) go to the recovery shares when the seal is a recovery seal
    # (the CLI asks sys/seal-status first), else to the key shares (docs/vault-cli.md §2).
    try:
        recovery_seal = bool((_json_obj(client.checked("GET", "sys/seal-status")) or {})
                             .get("recovery_seal"))
    except APIError:
        recovery_seal = False
    if recovery_seal:
        rshares, rthreshold = rshares or 5, rthreshold or 3
    else:
        shares, threshold = shares or 5, threshold or 3
    req = {"secret_shares": shares, "secret_threshold": threshold, "stored_shares": 0,
           "pgp_keys": fs["pgp-keys"] or None, "recovery_shares": rshares,
           "recovery_threshold": rthreshold, "recovery_pgp_keys": fs["recovery-pgp-keys"] or None,
           "root_token_pgp_key": fs["root-token-pgp-key"]}
    try:
        resp = _json_obj(client.checked("PUT", "sys/init", req)) or {}
    except APIError as e:
        ctx.ui.error("Error initializing: %s" % e)
        return 2
    keys_hex = resp.get("keys") or []
    keys_b64 = resp.get("keys_base64") or []
    if ctx.ui.format != "table":
        mi = {
            "unseal_keys_b64": list(keys_b64),
            "unseal_keys_hex": list(keys_hex),
            "unseal_shares": shares if keys_hex else 1,
            "unseal_threshold": threshold if keys_hex else 1,
            "recovery_keys_b64": list(resp.get("recovery_keys_base64") or []),
            "recovery_keys_hex": list(resp.get("recovery_keys") or []),
            "recovery_keys_shares": rshares,
            "recovery_keys_threshold": rthreshold,
            "root_token": resp.get("root_token", ""),
        }
        return output_data(ctx, mi)
    for i, key in enumerate(keys_hex):
        ctx.ui.output("Unseal Key %d: %s" % (i + 1, keys_b64[i] if len(keys_b64) == len(keys_hex) else key))
    rec_hex = resp.get("recovery_keys") or []
    rec_b64 = resp.get("recovery_keys_base64") or []
    for i, key in enumerate(rec_hex):
        ctx.ui.output("Recovery Key %d: %s" % (i + 1, rec_b64[i] if len(rec_b64) == len(rec_hex) else key))
    ctx.ui.output("")
    ctx.ui.output("Initial Root Token: %s" % resp.get("root_token", ""))
    p = ctx.product
    if keys_hex:
        ctx.ui.output("")
        ctx.ui.output(wrap_at_length(
            "%s initialized with %d key shares and a key threshold of %d. Please securely distribute the key "
            "shares printed above. When the %s is re-sealed, restarted, or stopped, you must supply at least %d "
            "of these keys to unseal it before it can start servicing requests." % (p, shares, threshold, p, threshold)))
        ctx.ui.output("")
        ctx.ui.output(wrap_at_length(
            "%s does not store the generated root key. Without at least %d keys to reconstruct the root key, "
            "%s will remain permanently sealed!" % (p, threshold, p)))
        ctx.ui.output("")
        ctx.ui.output(wrap_at_length(
            'It is possible to generate new unseal keys, provided you have a quorum of existing unseal keys '
            'shares. See "%s operator rekey" for more information.' % ctx.binary))
    else:
        ctx.ui.output("")
        ctx.ui.output("Success! %s is initialized" % p)
        if rec_hex:
            ctx.ui.output("")
            ctx.ui.output(wrap_at_length(
                "Recovery key initialized with %d key shares and a key threshold of %d. Please "
                "securely distribute the key shares printed above." % (rshares, rthreshold)))
    return 0


# ---------------------------------------------------------------- operator unseal (docs/vault-cli.md §3)
def _password_read():
    """go-secure-stdlib password.Read(os.Stdin) on Unix."""
    fd = 0
    if not os.isatty(fd):
        raise OSError("file descriptor %d is not a terminal" % fd)
    import termios
    import tty
    old = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)        # Go's term.MakeRaw: TCSETS, no input flush
        buf = bytearray()
        while True:
            b = os.read(fd, 1)
            if not b:
                break
            if b == b"\x03":
                raise OSError("interrupted")
            if b in (b"\n", b"\r"):
                break
            buf += b
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, old)
    s = buf.decode("utf-8", "replace")
    if s.startswith("\x20\x7f"):
        s = s[2:]
    return s


def cmd_unseal(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    fs.add("reset", "bool", False)
    fs.add("migrate", "bool", False)
    args = fs.parse(args)
    key = ""
    if len(args) == 1:
        key = args[0].strip()
    elif len(args) > 1:
        ctx.ui.error("Too many arguments (expected 1, got %d)" % len(args))
        return 1
    client = _client(ctx, fs)
    if fs["reset"]:
        try:
            status = _json_obj(client.checked("PUT", "sys/unseal", {"reset": True})) or {}
        except APIError as e:
            ctx.ui.error("Error resetting unseal process: %s" % e)
            return 2
        return output_seal_status(ctx, client, status)
    if key == "":
        if ctx.openbao and fs["non-interactive"]:
            ctx.ui.error(wrap_at_length("Refusing to read from stdin with -non-interactive specified; specify "
                                        "the unseal key as an argument to this command."))
            return 1
        UI._write(1, "Unseal Key (will be hidden): ")
        try:
            value = _password_read()
            err = None
        except OSError as e:
            value, err = "", str(e)
        UI._write(1, "\n")
        if err is not None:
            ctx.ui.error(wrap_at_length(
                "An error occurred attempting to ask for an unseal key. The raw error message is shown below, "
                "but usually this is because you attempted to pipe a value into the unseal command or you are "
                "executing outside of a terminal (tty). You should run the unseal command from a terminal for "
                "maximum security. If this is not an option, the unseal key can be provided as the first argument "
                "to the unseal command. The raw error was:\n\n%s" % err))
            return 1
        key = value.strip()
    try:
        status = _json_obj(client.checked("PUT", "sys/unseal", {"key": key, "migrate": fs["migrate"]})) or {}
    except APIError as e:
        ctx.ui.error("Error unsealing: %s" % e)
        return 2
    return output_seal_status(ctx, client, status)


# ---------------------------------------------------------------- operator step-down (docs/vault-cli.md §4)
def cmd_step_down(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)                      # no FlagSetOutputFormat: -format is not defined
    args = fs.parse(args)
    if args:
        ctx.ui.error("Too many arguments (expected 0, got %d)" % len(args))
        return 1
    client = _client(ctx, fs)
    try:
        client.checked("PUT", "sys/step-down")
    except APIError as e:
        ctx.ui.error("Error stepping down: %s" % e)
        return 2
    ctx.ui.output("Success! Stepped down: %s" % client.address)
    return 0


# ---------------------------------------------------------------- operator raft join (docs/vault-cli.md §4)
def _flag_file(raw: str) -> str:
    if raw.startswith("@"):
        try:
            with open(raw[1:]) as f:
                return f.read()
        except OSError as e:
            raise ValueError("error reading file: open %s: %s" % (raw[1:], _errno_text(e)))
    return raw


def cmd_raft_join(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    fs.add("auto-join-scheme", "string", "https")
    fs.add("auto-join-port", "int", 8200)
    fs.add("leader-ca-cert", "string", "")
    fs.add("leader-client-cert", "string", "")
    fs.add("leader-client-key", "string", "")
    fs.add("retry", "bool", False)
    fs.add("non-voter", "bool", False)
    args = fs.parse(args)
    leader = ""
    if len(args) == 1:
        leader = args[0].strip()
    elif len(args) > 1:
        ctx.ui.error("Too many arguments (expected 0-1, got %d)" % len(args))
        return 1
    scheme = fs["auto-join-scheme"]
    if scheme and scheme not in ("http", "https"):
        ctx.ui.error('invalid scheme "%s"; must either be http or https' % scheme)
        return 1
    certs = {}
    for flag, label, key in (("leader-ca-cert", "leader CA certificate", "leader_ca_cert"),
                             ("leader-client-cert", "leader client certificate", "leader_client_cert"),
                             ("leader-client-key", "leader client key", "leader_client_key")):
        try:
            certs[key] = _flag_file(fs[flag])
        except ValueError as e:
            ctx.ui.error("Failed to parse %s: %s" % (label, e))
            return 1
    client = _client(ctx, fs)
    req = {"auto_join": "", "auto_join_scheme": "", "auto_join_port": 0, "leader_api_addr": "",
           "leader_ca_cert": certs["leader_ca_cert"], "leader_client_cert": certs["leader_client_cert"],
           "leader_client_key": certs["leader_client_key"], "retry": fs["retry"], "non_voter": fs["non-voter"]}
    if "provider=" in leader:
        req["auto_join"] = leader
        req["auto_join_scheme"] = scheme
        req["auto_join_port"] = fs["auto-join-port"]
    else:
        req["leader_api_addr"] = leader
    try:
        resp = _json_obj(client.checked("POST", "sys/storage/raft/join", req)) or {}
    except APIError as e:
        ctx.ui.error("Error joining the node to the Raft cluster: %s" % e)
        return 2
    joined = bool(resp.get("joined"))
    return output_data(ctx, {"joined": joined},
                       table=lambda: table_output(["Key | Value", "Joined | %s" % ("true" if joined else "false")]))


# ---------------------------------------------------------------- list-peers (docs/vault-cli.md §4)
def cmd_list_peers(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    fs.add("dr-token", "string", "")
    args = fs.parse(args)
    if args:
        ctx.ui.error("Too many arguments (expected 0, got %d)" % len(args))
        return 1
    client = _client(ctx, fs)
    try:
        resp = client.request("GET", "sys/storage/raft/configuration")
        if resp.status == 404:
            obj = _json_obj(resp) or {}
            if not obj.get("data") and not obj.get("warnings"):
                ctx.ui.error("No raft cluster configuration found")
                return 2
        err = resp.error_text()
        if err:
            raise APIError(err)
    except APIError as e:
        ctx.ui.error("Error reading the raft cluster configuration: %s" % e)
        return 2
    obj = _json_obj(resp) or {}
    secret = secret_struct(obj)
    config = (obj.get("data") or {}).get("config") or {}

    def table():
        lines = ["Node | Address | State | Voter"]
        for s in config.get("servers") or []:
            lines.append("%s | %s | %s | %s" % (s.get("node_id"), s.get("address"),
                                                "leader" if s.get("leader") else "follower",
                                                "true" if s.get("voter") else "false"))
        return table_output(lines)
    if secret.get("data") is not None:
        secret["data"] = _sort_maps(secret["data"])
    return output_data(ctx, secret, table=table)


def _sort_maps(v):
    if isinstance(v, dict):
        return {k: _sort_maps(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_sort_maps(x) for x in v]
    return v


# ---------------------------------------------------------------- autopilot state (docs/vault-cli.md §4)
def cmd_autopilot_state(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    args = fs.parse(args)
    if ctx.ui.format == "table":
        ctx.ui.format = "pretty"        # the command overrides the default display format
    if args:
        ctx.ui.error("Too many arguments (expected 0, got %d)" % len(args))
        return 1
    client = _client(ctx, fs)
    try:
        resp = client.request("GET", "sys/storage/raft/autopilot/state")
        if resp.status == 404:
            return 0
        err = resp.error_text()
        if err:
            raise APIError(err)
    except APIError as e:
        ctx.ui.error("Error checking autopilot state: %s" % e)
        return 2
    d = (_json_obj(resp) or {}).get("data")
    if d is None:
        return 0
    state = _autopilot_struct(ctx, d)
    return output_data(ctx, state, pretty=lambda: _autopilot_pretty(state))


def _autopilot_struct(ctx, d: dict) -> dict:
    """api.AutopilotState: no json tags, so Go field names; nil slices/pointers print null."""
    servers = {}
    for sid in sorted((d.get("servers") or {})):
        s = d["servers"][sid]
        srv = {
            "ID": s.get("id", ""), "Name": s.get("name", ""), "Address": s.get("address", ""),
            "NodeStatus": s.get("node_status", ""), "LastContact": s.get("last_contact", ""),
            "LastTerm": s.get("last_term", 0), "LastIndex": s.get("last_index", 0),
            "Healthy": bool(s.get("healthy")), "StableSince": s.get("stable_since", ""),
            "Status": s.get("status", ""), "Version": s.get("version", ""),
            "UpgradeVersion": s.get("upgrade_version", ""),
        }
        if not ctx.openbao:
            srv["RedundancyZone"] = s.get("redundancy_zone", "")
        srv["NodeType"] = s.get("node_type", "")
        servers[sid] = srv
    st = {"Healthy": bool(d.get("healthy")), "FailureTolerance": d.get("failure_tolerance", 0),
          "Servers": servers, "Leader": d.get("leader", ""), "Voters": d.get("voters"),
          "NonVoters": d.get("non_voters")}
    if not ctx.openbao:
        st["RedundancyZones"] = d.get("redundancy_zones")
    st["Upgrade"] = d.get("upgrade_info")
    st["OptimisticFailureTolerance"] = d.get("optimistic_failure_tolerance", 0)
    return st


def _autopilot_pretty(st: dict) -> str:
    """PrettyFormatter.OutputAutopilotState."""
    b = lambda v: "true" if v else "false"
    out = ["Healthy:                         %s" % b(st["Healthy"]),
           "Failure Tolerance:               %d" % st["FailureTolerance"],
           "Leader:                          %s" % st["Leader"],
           "Voters:"]
    out += ["   %s" % v for v in st["Voters"] or []]
    if st["NonVoters"]:
        out.append("Non Voters:")
        out += ["   %s" % v for v in st["NonVoters"]]
    if st["OptimisticFailureTolerance"]:
        out.append("Optimistic Failure Tolerance:    %d" % st["OptimisticFailureTolerance"])
    out.append("Servers:")
    for sid in sorted(st["Servers"]):
        s = st["Servers"][sid]
        out.append("   %s" % s["ID"])
        out.append("      Name:              %s" % s["Name"])
        out.append("      Address:           %s" % s["Address"])
        out.append("      Status:            %s" % s["Status"])
        out.append("      Node Status:       %s" % s["NodeStatus"])
        out.append("      Healthy:           %s" % b(s["Healthy"]))
        out.append("      Last Contact:      %s" % s["LastContact"])
        out.append("      Last Term:         %d" % s["LastTerm"])
        out.append("      Last Index:        %d" % s["LastIndex"])
        out.append("      Version:           %s" % s["Version"])
        if s.get("UpgradeVersion"):
            out.append("      Upgrade Version:   %s" % s["UpgradeVersion"])
        if s.get("RedundancyZone"):
            out.append("      Redundancy Zone:   %s" % s["RedundancyZone"])
        if s.get("NodeType"):
            out.append("      Node Type:         %s" % s["NodeType"])
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- autopilot get-config
def cmd_autopilot_get_config(ctx, args):
    """command/operator_raft_autopilot_get_config.go: a failed request leaves config nil and
    the command returns 0 WITHOUT printing the error (it checks config == nil first); JSON is
    api.AutopilotConfig.MarshalJSON, a Go map: keys sorted, durations as strings."""
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    fs.add("dr-token", "string", "")
    args = fs.parse(args)
    if args:
        ctx.ui.error("Incorrect arguments (expected 0, got %d)" % len(args))
        return 1
    client = _client(ctx, fs)
    try:
        resp = client.request("GET", "sys/storage/raft/autopilot/configuration")
    except APIError:
        return 0
    if resp.status == 404 or resp.error_text():
        return 0
    d = (_json_obj(resp) or {}).get("data") or {}
    conf = {k: d.get(k) for k in sorted(("cleanup_dead_servers", "last_contact_threshold",
                                          "dead_server_last_contact_threshold", "max_trailing_logs",
                                          "min_quorum", "server_stabilization_time",
                                          "disable_upgrade_migration"))}
    b = lambda v: "true" if v else "false"
    rows = ["Key | Value",
            "Cleanup Dead Servers | %s" % b(conf["cleanup_dead_servers"]),
            "Last Contact Threshold | %s" % conf["last_contact_threshold"],
            "Dead Server Last Contact Threshold | %s" % conf["dead_server_last_contact_threshold"],
            "Server Stabilization Time | %s" % conf["server_stabilization_time"],
            "Min Quorum | %d" % conf["min_quorum"],
            "Max Trailing Logs | %d" % conf["max_trailing_logs"],
            "Disable Upgrade Migration | %s" % b(conf["disable_upgrade_migration"])]
    return output_data(ctx, conf, table=lambda: table_output(rows))


# ---------------------------------------------------------------- remove-peer (docs/vault-cli.md §4)
def cmd_remove_peer(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    fs.add("dr-token", "string", "")
    args = fs.parse(args)
    if len(args) != 1:
        ctx.ui.error("Incorrect arguments (expected 1, got %d)" % len(args))
        return 1
    server_id = args[0].strip()
    if not server_id:
        ctx.ui.error("Server id is required")
        return 1
    client = _client(ctx, fs)
    try:
        client.checked("PUT", "sys/storage/raft/remove-peer", {"dr_operation_token": fs["dr-token"],
                                                               "server_id": server_id})
    except APIError as e:
        ctx.ui.error("Error removing the peer from raft cluster: %s" % e)
        return 2
    ctx.ui.output("Peer removed successfully!")
    return 0


# ---------------------------------------------------------------- snapshots (docs/vault-cli.md §5)
class _LazyWriter:
    """lazyOpenWriter: os.OpenFile(path, O_CREATE|O_WRONLY|O_TRUNC, 0600) on the first byte."""

    def __init__(self, path):
        self.path = path
        self.fd = None

    def write(self, data: bytes):
        if self.fd is None:
            self.fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        mv = memoryview(data)
        while len(mv):
            n = os.write(self.fd, mv)
            mv = mv[n:]

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def cmd_snapshot_save(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    args = fs.parse(args)
    if len(args) != 1:
        ctx.ui.error("Incorrect arguments (expected 1, got %d)" % len(args))
        return 1
    path = args[0].strip()
    if not path:
        ctx.ui.error("Output file name is required")
        return 1
    w = _LazyWriter(path)
    client = _client(ctx, fs)
    from .snapshot import SnapshotReader
    checker = SnapshotReader()
    broken = False
    try:
        resp = client._open("GET", client.url("sys/storage/raft/snapshot"), None, None, None, redirect_prefix=True)
        if resp.status >= 400:
            resp.body = resp.raw.read()
            resp.conn.close()
            raise APIError(resp.error_text())
        while True:
            chunk = resp.raw.read(1 << 20)
            if not chunk:
                break
            w.write(chunk)
            if not broken:
                try:
                    checker.feed(chunk)
                except Exception:  # noqa: BLE001 - the Go goroutine just stops verifying
                    broken = True
        resp.conn.close()
        if broken or "SHA256SUMS.sealed" not in checker.members or not checker.sealed:
            raise APIError("incomplete snapshot, unable to read SHA256SUMS.sealed file")
    except APIError as e:
        ctx.ui.error("Error taking the snapshot: %s" % e)
        w.close()
        return 2
    except OSError as e:
        ctx.ui.error("Error taking the snapshot: open %s: %s" % (path, _errno_text(e)))
        w.close()
        return 2
    w.close()
    return 0


def cmd_snapshot_restore(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    fs.add("force", "bool", False)
    args = fs.parse(args)
    if len(args) != 1:
        ctx.ui.error("Incorrect arguments (expected 1, got %d)" % len(args))
        return 1
    path = args[0].strip()
    if not path:
        ctx.ui.error("Snapshot file name is required")
        return 1
    client = _client(ctx, fs)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        ctx.ui.error("Error opening policy file: open %s: %s" % (path, _errno_text(e)))   # sic (docs/vault-cli.md §5)
        return 2
    api_path = "sys/storage/raft/snapshot-force" if fs["force"] else "sys/storage/raft/snapshot"
    try:
        # The body is the open file, read to EOF; a followed redirect re-sends the same, already
        # consumed reader (ResetJSONBody only resets JSON bodies): docs/vault-cli.md §5.
        resp = client._open("POST", client.url(api_path), None, lambda: os.read(fd, 1 << 20), None,
                            redirect_prefix=True)
        resp.body = resp.raw.read()
        resp.conn.close()
        err = resp.error_text()
        if err:
            raise APIError(err)
    except APIError as e:
        ctx.ui.error("Error installing the snapshot: %s" % e)
        return 2
    finally:
        os.close(fd)
    if ctx.openbao and ctx.vtuple() >= (2, 6, 0):
        # openbao/openbao#3663: a deferred Close() of the file the transport already closed
        # (v2.6.0 on); harmless, the exit code stays 0 (docs/disaster-recovery.md §1.2).
        ctx.ui.error("Error properly closing policy file: close %s: file already closed" % path)
    return 0


# ---------------------------------------------------------------- read / write / delete
def _read_json_value(fd=0):
    """json.NewDecoder(stdin).Decode(&map): returns as soon as the top-level value is complete,
    without waiting for EOF (docs/vault-cli.md §3)."""
    buf = bytearray()
    depth = 0
    in_str = False
    esc = False
    started = False
    scalar = False
    i = 0
    while True:
        while i < len(buf):
            c = buf[i]
            if not started:
                if c in b" \t\r\n":
                    i += 1
                    continue
                started = True
                if c in b"{[":
                    depth = 1
                elif c == 0x22:
                    in_str = True
                    scalar = True
                else:
                    scalar = True
                i += 1
                continue
            if in_str:
                if esc:
                    esc = False
                elif c == 0x5C:
                    esc = True
                elif c == 0x22:
                    in_str = False
                    if depth == 0:
                        return bytes(buf[:i + 1])
                i += 1
                continue
            if depth == 0 and scalar:
                if c in b" \t\r\n,]}{[\"":
                    return bytes(buf[:i])
                i += 1
                continue
            if c == 0x22:
                in_str = True
            elif c in b"{[":
                depth += 1
            elif c in b"}]":
                depth -= 1
                if depth == 0:
                    return bytes(buf[:i + 1])
            i += 1
        chunk = os.read(fd, 65536)
        if not chunk:
            if not started:
                raise ValueError("EOF")
            if scalar and not in_str:
                return bytes(buf)
            raise ValueError("unexpected EOF")
        buf += chunk


def _go_json_error(e: ValueError, text: str) -> str:
    msg = str(e)
    if msg in ("EOF", "unexpected EOF"):
        return msg
    pos = getattr(e, "pos", None)
    if pos is not None and pos < len(text):
        ch = text[pos]
        return "invalid character '%s' looking for beginning of value" % ch
    return "unexpected EOF"


def parse_args_data(args):
    """go-secure-stdlib kv-builder: K=V, K=@file, K=- (stdin to EOF), - (a JSON object from stdin)."""
    result = {}
    stdin_used = False
    for raw in args:
        if raw == "-":
            if stdin_used:
                raise ValueError("stdin already consumed")
            stdin_used = True
            try:
                text = _read_json_value(0).decode("utf-8", "replace")
                obj = json.loads(text)
            except ValueError as e:
                raise ValueError(_go_json_error(e, locals().get("text", "")))
            if obj is None:
                continue
            if not isinstance(obj, dict):
                kind = {list: "array", str: "string", bool: "bool"}.get(type(obj), "number")
                raise ValueError("json: cannot unmarshal %s into Go value of type map[string]interface {}" % kind)
            result.update(obj)
            continue
        if raw.startswith("@"):
            try:
                with open(raw[1:]) as f:
                    obj = json.loads(f.read())
            except OSError as e:
                raise ValueError("open %s: %s" % (raw[1:], _errno_text(e)))
            if isinstance(obj, dict):
                result.update(obj)
            continue
        if "=" not in raw:
            raise ValueError("format must be key=value")
        key, value = raw.split("=", 1)
        if value.startswith("@"):
            try:
                with open(value[1:]) as f:
                    value = f.read()
            except OSError as e:
                raise ValueError("error reading file: open %s: %s" % (value[1:], _errno_text(e)))
        elif value.startswith("\\@"):
            value = value[1:]
        elif value == "-":
            if stdin_used:
                raise ValueError("stdin already consumed")
            stdin_used = True
            chunks = []
            while True:
                c = os.read(0, 65536)       # io.Copy: reads until EOF, keeps the newline
                if not c:
                    break
                chunks.append(c)
            value = b"".join(chunks).decode("utf-8", "surrogateescape")
        if key in result:
            prev = result[key]
            result[key] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            result[key] = value
    return result


def _sanitize_path(p: str) -> str:
    return p.strip().strip("/")


def _print_field(ctx, secret, field):
    data = secret.get("data") or {}
    if field not in data:
        ctx.ui.error('Field "%s" not present in secret' % field)
        return 1
    val = data[field]
    if ctx.ui.format != "table":
        return output_data(ctx, val)
    s = val if isinstance(val, str) else _fmt_v(val)
    if os.isatty(1):
        ctx.ui.output(s)
    else:
        UI._write(1, s)
    return 0


def cmd_write(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    field_flags(ctx, fs)
    fs.add("force", "bool", False, aliases=("f",))
    args = fs.parse(args)
    if len(args) < 1:
        ctx.ui.error("Not enough arguments (expected 1, got %d)" % len(args))
        return 1
    if len(args) == 1 and not fs["force"]:
        ctx.ui.error("Must supply data or use -force")
        return 1
    path = _sanitize_path(args[0])
    try:
        data = parse_args_data(args[1:])
    except ValueError as e:
        ctx.ui.error("Failed to parse K=V data: %s" % e)
        return 1
    client = _client(ctx, fs)
    try:
        resp = client.checked("PUT", path, data)
    except APIError as e:
        ctx.ui.error("Error writing data to %s: %s" % (path, e))
        return 2
    obj = _json_obj(resp)
    if obj is None:
        if ctx.ui.format == "table":
            ctx.ui.info("Success! Data written to: %s" % path)
        return 0
    secret = secret_struct(obj, since_113=ctx.openbao or ctx.vtuple() >= (1, 13, 0))
    if fs["field"]:
        return _print_field(ctx, secret, fs["field"])
    return output_data(ctx, secret, table=lambda: secret_table(secret))


def cmd_read(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    field_flags(ctx, fs)
    args = fs.parse(args)
    if len(args) < 1:
        ctx.ui.error("Not enough arguments (expected 1, got %d)" % len(args))
        return 1
    path = _sanitize_path(args[0])
    try:
        query = parse_args_data(args[1:])
    except ValueError as e:
        ctx.ui.error("Failed to parse K=V data: %s" % e)
        return 1
    client = _client(ctx, fs)
    try:
        resp = client.request("GET", path, query={k: v for k, v in query.items()} or None)
        if resp.status == 404:
            obj = _json_obj(resp) or {}
            if not obj.get("data") and not obj.get("warnings"):
                ctx.ui.error("No value found at %s" % path)
                return 2
        err = resp.error_text()
        if err:
            raise APIError(err)
    except APIError as e:
        ctx.ui.error("Error reading %s: %s" % (path, e))
        return 2
    obj = _json_obj(resp)
    if obj is None:
        ctx.ui.error("No value found at %s" % path)
        return 2
    if ctx.ui.format == "raw":
        UI._write(1, resp.body.decode("utf-8", "replace"))
        return 0
    secret = secret_struct(obj)
    if fs["field"]:
        return _print_field(ctx, secret, fs["field"])
    return output_data(ctx, secret, table=lambda: secret_table(secret))


def cmd_delete(ctx, args):
    fs = FlagSet()
    http_flags(ctx, fs)
    format_flags(ctx, fs)
    args = fs.parse(args)
    if len(args) < 1:
        ctx.ui.error("Not enough arguments (expected 1, got %d)" % len(args))
        return 1
    path = _sanitize_path(args[0])
    client = _client(ctx, fs)
    try:
        client.checked("DELETE", path)
    except APIError as e:
        ctx.ui.error("Error deleting %s: %s" % (path, e))
        return 2
    if ctx.ui.format == "table":
        ctx.ui.info("Success! Data deleted (if it existed) at: %s" % path)
    return 0


def cmd_version(ctx, args):
    import hashlib
    sha = hashlib.sha1(("%s %s" % (ctx.flavor, ctx.version)).encode()).hexdigest()
    ctx.ui.output("%s v%s (%s), built %s" % (ctx.product, ctx.version, sha, ctx.build_date))
    return 0


COMMANDS = {
    "status": (cmd_status, "Print seal and HA status"),
    "version": (cmd_version, "Prints the version"),
    "read": (cmd_read, "Read data and retrieves secrets"),
    "write": (cmd_write, "Write data, configuration, and secrets"),
    "delete": (cmd_delete, "Delete secrets and configuration"),
    "operator": (None, "Perform operator-specific tasks"),
    "operator init": (cmd_init, "Initializes a server"),
    "operator unseal": (cmd_unseal, "Unseals the server"),
    "operator step-down": (cmd_step_down, "Forces the server to resign active duty"),
    "operator raft": (None, "Interact with the Raft storage backend"),
    "operator raft join": (cmd_raft_join, "Joins a node to the Raft cluster"),
    "operator raft list-peers": (cmd_list_peers, "Returns the Raft peer set"),
    "operator raft remove-peer": (cmd_remove_peer, "Removes a node from the Raft cluster"),
    "operator raft autopilot": (None, "Manage autopilot"),
    "operator raft autopilot get-config": (cmd_autopilot_get_config, "Returns the configuration of the autopilot subsystem under integrated storage"),
    "operator raft autopilot state": (cmd_autopilot_state, "Displays the state of the raft cluster under integrated storage as seen by autopilot"),
    "operator raft snapshot": (None, "Restores and saves snapshots from the Raft cluster"),
    "operator raft snapshot save": (cmd_snapshot_save, "Saves a snapshot of the current state of the Raft cluster into a file"),
    "operator raft snapshot restore": (cmd_snapshot_restore, "Installs the provided snapshot, returning the cluster to the state defined in it"),
}

# Key ceremonies (rekey, generate-root, rotate, key-status): their own file, same table,
# imported when one runs (it imports secrets and hmac: a seventh of every other command's start).
def _ceremony(name):
    def run(ctx, args):
        from . import cli_ceremony
        return getattr(cli_ceremony, name)(ctx, args)
    return run


COMMANDS.update({
    "operator rekey": (_ceremony("cmd_rekey"), "Generates new unseal keys"),
    "operator generate-root": (_ceremony("cmd_generate_root"), "Generates a new root token"),
    "operator rotate": (_ceremony("cmd_rotate"), "Rotates the underlying encryption key"),
    "operator key-status": (_ceremony("cmd_key_status"),
                            "Provides information about the active encryption key"),
    "operator rotate-keys": (_ceremony("cmd_rotate_keys"), "Generates new unseal keys (OpenBao)"),
})


def _help_text(ctx, prefix=""):
    b = ctx.binary
    if prefix:
        subs = sorted(k[len(prefix) + 1:] for k in COMMANDS if k.startswith(prefix + " ") and " " not in k[len(prefix) + 1:])
        lines = ["Usage: %s %s <subcommand> [options] [args]" % (b, prefix), "", "Subcommands:"]
        lines += ["    %-15s%s" % (s, COMMANDS[prefix + " " + s][1]) for s in subs]
        return "\n".join(lines)
    tops = sorted(k for k in COMMANDS if " " not in k)
    lines = ["Usage: %s <command> [args]" % b, "", "Common commands:"]
    lines += ["    %-15s%s" % (k, COMMANDS[k][1]) for k in tops]
    return "\n".join(lines)


def _global_format(args, env):
    """command/main.go setupEnv: -format anywhere (before --), even after positionals."""
    fmt = ""
    next_is = False
    for a in args:
        if next_is:
            next_is = False
            fmt = a
            continue
        if a == "--":
            break
        if a.startswith("-format=") or a.startswith("--format="):
            fmt = a.split("=", 1)[1]
        if a in ("-format", "--format"):
            next_is = True
    if fmt == "":
        fmt = env.get("FORMAT")
    fmt = fmt.lower()
    return fmt or "table"


def main(argv, flavor="vault", version="1.21.2", build_date="2025-12-18T15:41:11Z"):
    args = list(argv[1:])
    env = Env(flavor)
    fmt = _global_format(args, env)
    color = (fmt == "table" and not env.get("CLI_NO_COLOR") and os.isatty(1)
             and os.environ.get("TERM", "") != "dumb")
    ui = UI(fmt, color)
    ctx = Ctx(flavor, version, build_date, fmt, ui)
    if len(args) == 1 and args[0] in ("-v", "-version", "--version"):
        args = ["version"]
    if fmt not in ("json", "table", "yaml", "yml", "pretty", "raw"):
        ui.error("Invalid output format: %s" % fmt)
        return 1
    # mitchellh/cli: help flags anywhere before "--"; the subcommand is the longest prefix.
    is_help = False
    for a in args:
        if a == "--":
            break
        if a in ("-h", "-help", "--help"):
            is_help = True
    j = 0
    lead = []
    while j < len(args) and args[j].startswith("-") and args[j] != "--":
        lead.append(args[j])
        j += 1
    words = []
    i = j
    while i < len(args) and not args[i].startswith("-"):
        words.append(args[i])
        i += 1
    name = ""
    rest = []
    for n in range(len(words), 0, -1):
        cand = " ".join(words[:n])
        if cand in COMMANDS and all(" " not in w for w in words[:n]):
            name = cand
            rest = args[j + n:]
            break
    if not name:
        UI._write(2, _help_text(ctx) + "\n")
        return 0 if (is_help and not words) else EXIT_HELP
    if [a for a in lead if a not in ("-h", "-help", "--help")]:
        UI._write(2, "Invalid flags before the subcommand. If these flags are for\n"
                     "the subcommand, please put them after the subcommand.\n\n")
        UI._write(2, "Usage: %s %s [options]\n" % (ctx.binary, name))
        return 1
    fn, _ = COMMANDS[name]
    if is_help:
        UI._write(2, ("Usage: %s %s [options]\n" % (ctx.binary, name)) if fn else _help_text(ctx, name) + "\n")
        return 0
    if fn is None:
        UI._write(2, _help_text(ctx, name) + "\n")
        return 1
    rest = [a for a in rest if a not in ("-h", "-help", "--help")]
    try:
        return fn(ctx, rest)
    except FlagError as e:
        ui.error(str(e))
        return 1
    except HelpRequested:
        UI._write(2, "Usage: %s %s [options]\n" % (ctx.binary, name))
        return 0
    except Exit as e:
        return e.code
    except KeyboardInterrupt:
        return 130
