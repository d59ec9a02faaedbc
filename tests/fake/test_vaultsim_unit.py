"""Unit tests of the Vault simulator's building blocks (no processes, no server).

Each test names the section of docs/vault-cli.md whose behaviour it pins down."""
import base64
import hashlib
import io
import itertools
import json
import os
import tarfile
import zlib

import pytest

from vaultsim import cli, goish, pgp, shamir
from vaultsim import snapshot as S


# ---------------------------------------------------------------- Shamir (docs/vault-cli.md §2, §3)
def test_shamir_shares_are_33_bytes_and_any_threshold_subset_recovers():
    """§2: Shamir unseal shares are 33 bytes (44 base64 / 66 hex characters); §3: any threshold subset."""
    secret = os.urandom(32)
    parts = shamir.split(secret, 5, 3)
    assert all(len(p) == 33 for p in parts)
    assert all(len(base64.b64encode(p)) == 44 and len(p.hex()) == 66 for p in parts)
    assert len({p[-1] for p in parts}) == 5 and all(p[-1] != 0 for p in parts)
    for combo in itertools.combinations(parts, 3):
        assert shamir.combine(list(combo)) == secret
    assert shamir.combine(parts) == secret
    assert shamir.combine(parts[:2]) != secret


def test_shamir_combine_errors_match_vault():
    """§3: errors surface as `invalid key: failed to compute combined key: ...` (vault/core.go)."""
    parts = shamir.split(os.urandom(32), 3, 2)
    with pytest.raises(shamir.ShamirError, match="duplicate part detected"):
        shamir.combine([parts[0], parts[1][:-1] + parts[0][-1:]])
    with pytest.raises(shamir.ShamirError, match="all parts must be the same length"):
        shamir.combine([parts[0], parts[1][:-1]])
    with pytest.raises(shamir.ShamirError, match="less than two parts"):
        shamir.combine([parts[0]])


# ---------------------------------------------------------------- Go formatting (docs/vault-cli.md §0, §3)
def test_go_json_is_marshalindent_with_html_escaping():
    """§0: JSON output is json.MarshalIndent(data, "", "  ") (Go escapes <, >, &)."""
    assert goish.go_json({"a": [], "b": {}, "c": "<x&y>", "d": None}) == \
        '{\n  "a": [],\n  "b": {},\n  "c": "\\u003cx\\u0026y\\u003e",\n  "d": null\n}'


def test_table_output_is_columnized_with_underline_and_na():
    """Vault's tableOutput: 4-space glue, dashes under headers, empty cells become n/a."""
    text = goish.table_output(["Key | Value", "Sealed | true", "Unseal Nonce | "])
    assert text == ("Key             Value\n"
                    "---             -----\n"
                    "Sealed          true\n"
                    "Unseal Nonce    n/a")


def test_base64_decoder_ignores_newlines_and_hex_decoder_does_not():
    """§3 Trailing newline behaviour: base64 ignores \\r\\n, hex with a trailing \\n fails."""
    key = os.urandom(33)
    assert goish.go_b64_std_decode(base64.b64encode(key).decode() + "\n") == key
    assert goish.go_hex_decode(key.hex() + "\n") is None
    assert goish.go_b64_std_decode(key.hex() + "\n") is None     # 66 chars: not valid base64 either
    assert goish.go_hex_decode(key.hex().upper()) == key
    assert goish.go_b64_std_decode("abc") is None                  # padding required


def test_go_duration_and_rfc3339nano():
    """§4: LastContact is a Go duration string; §1: active_time is RFC3339Nano."""
    assert goish.go_duration(0) == "0s"
    assert goish.go_duration(564_700_000) == "564.7ms"
    assert goish.go_duration(90 * 10 ** 9) == "1m30s"
    assert goish.go_duration(3600 * 10 ** 9) == "1h0m0s"
    assert goish.rfc3339nano(1767604364512367088) == "2026-01-05T09:12:44.512367088Z"
    assert goish.rfc3339nano(1767604364000000000) == "2026-01-05T09:12:44Z"


def test_wrap_at_length_minimum_raggedness():
    """The unseal prompt error (§3) is wrapped by kr/text at 78 columns."""
    text = goish.wrap_at_length("word " * 40)
    assert all(len(line) <= 78 for line in text.splitlines())
    assert text.split() == ["word"] * 40


# ---------------------------------------------------------------- Go flag parsing (docs/vault-cli.md §0)
def _flags():
    fs = cli.FlagSet()
    fs.add("format", "string", "table")
    fs.add("reset", "bool", False)
    fs.add("key-shares", "int", 0, aliases=("n",))
    return fs


def test_flag_syntaxes_and_stop_at_first_positional():
    """§0: Go flag: -f=v, -f v, --f, bools take no separate value, parsing stops at the first positional."""
    fs = _flags()
    rest = fs.parse(["--format", "json", "-n=7", "-reset", "KEY", "-format=yaml"])
    assert fs["format"] == "json" and fs["key-shares"] == 7 and fs["reset"] is True
    assert rest == ["KEY", "-format=yaml"]
    fs = _flags()
    assert fs.parse(["-reset", "false"]) == ["false"]          # bool flags never consume the next arg
    fs = _flags()
    assert fs.parse(["--", "-reset"]) == ["-reset"] and fs["reset"] is False
    fs = _flags()
    assert fs.parse(["-", "x"]) == ["-", "x"]                    # a lone "-" is a positional


def test_flag_errors_have_go_texts():
    """§0: unknown flags fail with `flag provided but not defined: -NAME` (exit 1)."""
    for args, msg in ((["-nope"], "flag provided but not defined: -nope"),
                      (["-format"], "flag needs an argument: -format"),
                      (["-n", "x"], 'invalid value "x" for flag -n: strconv.ParseInt: parsing "x": invalid syntax'),
                      (["-reset=maybe"], 'invalid boolean value "maybe" for -reset: strconv.ParseBool: '
                                         'parsing "maybe": invalid syntax'),
                      (["---x"], "bad flag syntax: ---x")):
        with pytest.raises(cli.FlagError) as e:
            _flags().parse(args)
        assert str(e.value) == msg


def test_global_format_preparse_sees_format_after_positionals():
    """§0: -format after a positional argument is still picked up by the global pre-parse."""
    env = cli.Env("vault")
    assert cli._global_format(["operator", "raft", "join", "http://x", "-format=json"], env) == "json"
    assert cli._global_format(["status", "-format", "YAML"], env) == "yaml"
    assert cli._global_format(["status", "--", "-format=json"], env) == "table"


# ---------------------------------------------------------------- snapshot archives (docs/vault-cli.md §5)
def _archive(state_bytes=0, records=(("core/x", b"hello"),), seal=lambda s: b"sealed:" + s):
    meta = S.raft_meta(42, 3, [{"ID": "n1", "Address": "vault-0.vault-internal:8201"}], 40)
    w = S.SnapshotWriter(meta, list(records), seal, state_bytes=state_bytes)
    return w, b"".join(w.chunks())


def test_snapshot_is_gzip_tar_with_members_in_order_and_valid_sums():
    """§5: gzip tar; meta.json, state.bin, SHA256SUMS, SHA256SUMS.sealed in that order; sums of meta/state."""
    _, data = _archive()
    assert data[:2] == b"\x1f\x8b"
    tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    assert tf.getnames() == ["meta.json", "state.bin", "SHA256SUMS", "SHA256SUMS.sealed"]
    meta = tf.extractfile("meta.json").read()
    state = tf.extractfile("state.bin").read()
    sums = tf.extractfile("SHA256SUMS").read().decode()
    assert sums == "%s  meta.json\n%s  state.bin\n" % (hashlib.sha256(meta).hexdigest(),
                                                        hashlib.sha256(state).hexdigest())
    assert tf.extractfile("SHA256SUMS.sealed").read() == b"sealed:" + sums.encode()
    m = json.loads(meta)
    assert list(m) == ["Version", "ID", "Index", "Term", "Peers", "Configuration", "ConfigurationIndex", "Size"]
    assert m["Index"] == 42 and m["Term"] == 3 and m["Size"] == len(state)
    # state.bin: uvarint-length-delimited protobuf StorageEntry{key=1, value=2}
    n, i = S._read_uvarint(state, 0)
    entry = S.parse_pb(state[i:i + n])
    assert entry[1] == [b"core/x"] and entry[2] == [b"hello"]


def test_snapshot_padding_is_exact_and_generated_in_bounded_chunks():
    """§5 + brief: state.bin of a configured size is streamed in chunks, never held whole."""
    size = 24 * 1024 * 1024 + 123
    w, _ = _archive(state_bytes=0)
    w = S.SnapshotWriter(S.raft_meta(1, 1, [], 1), [("core/x", b"v")], lambda s: b"x", state_bytes=size, level=0)
    biggest = 0
    total = 0
    reader = S.SnapshotReader()
    for chunk in w.chunks():
        biggest = max(biggest, len(chunk))
        total += len(chunk)
        reader.feed(chunk)
    reader.finish()
    reader.verify_sums()
    assert w.state_size == size and reader.meta["Size"] == size
    assert biggest <= 2 * 1024 * 1024
    assert total > size                              # stored deflate: the archive really is that big
    assert reader.records == {"core/x": b"v"}        # filler records are skipped, not kept


def test_snapshot_reader_rejects_bad_archives_with_vault_texts():
    """§5: unexpected member, checksum mismatch, not gzip, truncated."""
    _, good = _archive()
    tf = tarfile.open(fileobj=io.BytesIO(good), mode="r:gz")
    members = {n: tf.extractfile(n).read() for n in tf.getnames()}

    def build(items):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as out:
            for name, data in items:
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                out.addfile(ti, io.BytesIO(data))
        return zlib.compress(raw.getvalue(), wbits=31)

    def read(data):
        r = S.SnapshotReader()
        r.feed(data)
        r.finish()
        r.verify_sums()

    with pytest.raises(S.SnapshotError, match='unexpected file "extra.txt" in snapshot'):
        read(build(list(members.items()) + [("extra.txt", b"x")]))
    bad_state = dict(members, **{"state.bin": members["state.bin"] + b"\0"})
    with pytest.raises(S.SnapshotError, match='bad hash for "state.bin"'):
        read(build(list(bad_state.items())))
    with pytest.raises(S.SnapshotError, match="gzip: invalid header"):
        read(b"this is not gzip")
    with pytest.raises(S.SnapshotError, match="unexpected EOF"):
        read(good[: len(good) // 2])
    with pytest.raises(S.SnapshotError, match="EOF"):
        read(b"")


# ---------------------------------------------------------------- PGP (docs/vault-cli.md §2)
def test_pgp_encrypts_to_rsa_keys_and_validates_like_x_crypto_openpgp():
    """§2: with -pgp-keys the shares are PGP ciphertext; invalid keys fail parsing."""
    public, private = pgp.make_test_key()
    key = pgp.parse_public_key(public)
    share = os.urandom(33)
    message = pgp.encrypt(key, share)
    assert message[0] == 0xC1                       # a Public-Key Encrypted Session Key packet first
    assert pgp.decrypt(private, message) == share
    with pytest.raises(pgp.PGPError, match="tag byte does not have MSB set"):
        pgp.parse_public_key(b"not a key")
    with pytest.raises(pgp.PGPError, match="first packet was not a public/private key"):
        pgp.parse_public_key(bytes([0xC0 | 13, 3]) + b"uid")
