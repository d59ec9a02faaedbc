"""Go-compatible formatting helpers shared by the simulated CLI and the server.

Only the standard library is imported here: the `vault` executable imports this
module on every invocation and must start fast.

What is reproduced, and from where (docs/vault-cli.md §0 and the Vault sources named there):
- json.MarshalIndent(v, "", "  ") + "\n"  (command/format.go JsonFormatter), including Go's
  HTML-safe escaping of <, >, & and U+2028/U+2029 and its short escapes.
- Vault's tableOutput/columnOutput on ryanuber/columnize (Glue "    ", Empty "n/a",
  header underline of dashes).
- kr/text.Wrap (minimum-raggedness word wrap) as used by Vault's wrapAtLength (78 columns).
- encoding/hex.DecodeString and encoding/base64.StdEncoding.DecodeString semantics
  (base64 ignores \\r and \\n, requires padding; hex rejects any non-hex byte).
- time.Duration.String() and time.Time RFC3339Nano formatting.
"""
import base64
import binascii
import json
import time

ZERO_TIME = "0001-01-01T00:00:00Z"


# ---------------------------------------------------------------- JSON
def _go_escape(s: str) -> str:
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def go_json(obj, indent: bool = True) -> str:
    """json.MarshalIndent(obj, "", "  ") (or json.Marshal when indent is False).

    Dict order is preserved: callers build struct-like dicts in Go field order and
    sort map-like dicts themselves (Go sorts map keys)."""
    if indent:
        text = json.dumps(obj, indent=2, ensure_ascii=False)
    else:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    # Go writes \b and \f as \u0008 and \u000c; everything else matches Python already.
    text = text.replace("\\b", "\\u0008").replace("\\f", "\\u000c")
    return _go_escape(text)


def sorted_map(d: dict) -> dict:
    """A Go map[string]T marshals with sorted keys."""
    return {k: d[k] for k in sorted(d)}


# ---------------------------------------------------------------- columnize / tables
def columnize(lines, delim="|", glue="    ", empty="n/a") -> str:
    rows = []
    for line in lines:
        elems = [f.strip() for f in line.split(delim)]
        if empty:
            elems = [e if e != "" else empty for e in elems]
        rows.append(elems)
    widths = []
    for elems in rows:
        for i, e in enumerate(elems):
            if len(widths) <= i:
                widths.append(len(e))
            elif widths[i] < len(e):
                widths[i] = len(e)
    out = []
    for elems in rows:
        parts = []
        for i, e in enumerate(elems):
            if i == len(elems) - 1:
                parts.append(e)
            else:
                parts.append(e.ljust(widths[i]) + glue)
        out.append("".join(parts))
    return "\n".join(out)


def table_output(lines, delim="|") -> str:
    """Vault's tableOutput: header, a line of dashes under each header word, the rows."""
    if not lines:
        return ""
    headers = lines[0].split(delim)
    underline = delim.join("-" * len(h.strip()) for h in headers)
    return columnize([lines[0], underline] + list(lines[1:]), delim=delim)


# ---------------------------------------------------------------- kr/text.Wrap
def wrap_at_length(s: str, lim: int = 78, pad: int = 0) -> str:
    """Vault's wrapAtLengthWithPadding on kr/text.Wrap (minimal raggedness; newlines
    inside the text become spaces, as kr/text does)."""
    lim = lim - pad
    words = s.strip().replace("\n", " ").split(" ")
    n = len(words)
    if n == 0:
        return ""
    length = [[0] * n for _ in range(n)]
    for i in range(n):
        length[i][i] = len(words[i])
        for j in range(i + 1, n):
            length[i][j] = length[i][j - 1] + 1 + len(words[j])
    nbrk = [0] * n
    cost = [2 ** 31 - 1] * n
    pen = 100000
    for i in range(n - 1, -1, -1):
        if length[i][n - 1] <= lim or i == n - 1:
            cost[i] = 0
            nbrk[i] = n
        else:
            for j in range(i + 1, n):
                d = lim - length[i][j - 1]
                c = d * d + cost[j]
                if length[i][j - 1] > lim:
                    c += pen
                if c < cost[i]:
                    cost[i] = c
                    nbrk[i] = j
    lines = []
    i = 0
    while i < n:
        lines.append(" ".join(words[i:nbrk[i]]))
        i = nbrk[i]
    return "\n".join(" " * pad + line for line in lines)


# ---------------------------------------------------------------- decoding like Go
_HEX = set("0123456789abcdefABCDEF")


def go_hex_decode(s: str):
    """encoding/hex.DecodeString: None on any error (odd length, non-hex byte)."""
    if len(s) % 2 or any(c not in _HEX for c in s):
        return None
    return bytes.fromhex(s)


def go_b64_std_decode(s: str):
    """base64.StdEncoding.DecodeString: \\r and \\n are ignored, padding is required."""
    t = s.replace("\r", "").replace("\n", "")
    if len(t) % 4:
        return None
    try:
        return base64.b64decode(t.encode("latin-1"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


# ---------------------------------------------------------------- time
def rfc3339nano(epoch_ns: int) -> str:
    secs, frac = divmod(epoch_ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        base += "." + ("%09d" % frac).rstrip("0")
    return base + "Z"


def rfc3339(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch_s)))


def _fmt_frac(v: int, prec: int) -> str:
    """Go's fmtFrac: v / 10**prec with trailing zeros (and a bare dot) removed."""
    whole, frac = divmod(v, 10 ** prec)
    fs = ("%0*d" % (prec, frac)).rstrip("0") if prec else ""
    return str(whole) + ("." + fs if fs else "")


def go_duration(ns: int) -> str:
    """time.Duration(ns).String()."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        if u < 1_000:
            s = "%dns" % u
        elif u < 1_000_000:
            s = _fmt_frac(u, 3) + "µs"
        else:
            s = _fmt_frac(u, 6) + "ms"
    else:
        secs_part = u % 60_000_000_000
        mins = u // 60_000_000_000
        s = _fmt_frac(secs_part, 9) + "s"
        if mins:
            h, m = divmod(mins, 60)
            s = ("%dh%dm" % (h, m) if h else "%dm" % m) + s
    return ("-" if neg else "") + s


# ---------------------------------------------------------------- certificates
def pem_fingerprints(pem_text: str):
    """SHA-256 of each PEM certificate body (whitespace removed): how the simulated client tells
    the server which CAs it trusts."""
    import hashlib
    import re
    out = []
    for m in re.finditer(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem_text or "", re.S):
        body = "".join(m.group(1).split())
        out.append(hashlib.sha256(body.encode()).hexdigest())
    return out
