"""Raft snapshot archives (docs/vault-cli.md §5.3, the snapshot file).

A snapshot is a gzip-compressed tar with exactly these members, in this order:
  1. meta.json          raft.SnapshotMeta as compact JSON (json.Marshal)
  2. state.bin          uvarint-length-delimited protobuf StorageEntry{key=1, value=2} records
  3. SHA256SUMS         "<sha256 hex>  <name>\\n" for meta.json and state.bin
  4. SHA256SUMS.sealed  SHA256SUMS encrypted under the cluster's seal key, wrapped in a
                        protobuf shaped like EncryptedBlobInfo{ciphertext=1, iv=2, key_info=5}

Everything is produced and consumed as a stream in constant memory, so benchmark snapshots
of several GiB never sit in memory: state.bin is padded with deterministic filler records
(key prefix FILLER_PREFIX) generated chunk by chunk, and the reader skips filler values
without buffering them.
"""
import base64
import hashlib
import json
import random
import struct
import tarfile
import time
import zlib

FILLER_PREFIX = "sys/sim/filler/"
MEMBERS = ("meta.json", "state.bin", "SHA256SUMS", "SHA256SUMS.sealed")
META_LIMIT = 8 * 1024          # docs/vault-cli.md §5: meta and hash files are limited to 8 KiB each
CHUNK = 1 << 20
_FILLER_KEY_LEN = len(FILLER_PREFIX) + 8


class SnapshotError(Exception):
    """An error the Vault server reports while reading an uploaded snapshot."""

    def __init__(self, message, status=500):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- protobuf-ish encoding
def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def uvarint_len(n: int) -> int:
    return len(uvarint(n))


def pb_bytes(field: int, data: bytes) -> bytes:
    return uvarint((field << 3) | 2) + uvarint(len(data)) + data


def storage_entry(key: str, value: bytes) -> bytes:
    return pb_bytes(1, key.encode()) + pb_bytes(2, value)


def record(key: str, value: bytes) -> bytes:
    entry = storage_entry(key, value)
    return uvarint(len(entry)) + entry


def _record_size(klen: int, vlen: int) -> int:
    entry = 1 + uvarint_len(klen) + klen + 1 + uvarint_len(vlen) + vlen
    return uvarint_len(entry) + entry


def _value_len_for(klen: int, size: int):
    for v in range(max(0, size - klen - 16), size + 1):
        if _record_size(klen, v) == size:
            return v
    return None


def parse_pb(data: bytes) -> dict:
    """Decode a flat protobuf message: {field: [values]} (bytes for length-delimited, int for varint)."""
    out = {}
    i = 0
    while i < len(data):
        tag, i = _read_uvarint(data, i)
        field, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _read_uvarint(data, i)
        elif wt == 2:
            ln, i = _read_uvarint(data, i)
            v = data[i:i + ln]
            if len(v) != ln:
                raise ValueError("truncated field")
            i += ln
        else:
            raise ValueError("unsupported wire type %d" % wt)
        out.setdefault(field, []).append(v)
    return out


def _read_uvarint(data: bytes, i: int):
    shift = 0
    n = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7


# ---------------------------------------------------------------- writer
class _Filler:
    """A deterministic 1 MiB block, repeated: incompressible within deflate's 32 KiB window."""
    _block = None

    @classmethod
    def block(cls) -> bytes:
        if cls._block is None:
            cls._block = random.Random(0x5EED).randbytes(CHUNK)
        return cls._block


def _tar_header(name: str, size: int, mtime: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mode = 0o600
    ti.mtime = mtime
    ti.type = tarfile.REGTYPE
    fmt = tarfile.USTAR_FORMAT if size < 8 ** 11 else tarfile.PAX_FORMAT
    return ti.tobuf(format=fmt, encoding="utf-8", errors="strict")


def _pad(n: int) -> bytes:
    return b"\0" * ((512 - n % 512) % 512)


class SnapshotWriter:
    """Produces the gzip-compressed archive as an iterator of byte chunks.

    records:     the real (small) state as (key, value) pairs
    state_bytes: pad state.bin with filler records up to (at least) this size
    seal:        callable(bytes) -> bytes producing SHA256SUMS.sealed from SHA256SUMS
    """

    def __init__(self, meta: dict, records, seal, state_bytes: int = 0, level: int = 1,
                 sums_reverse: bool = False, mtime: int | None = None):
        self.records = [record(k, v) for k, v in records]
        natural = sum(len(r) for r in self.records)
        self.plan = self._plan_filler(max(0, int(state_bytes or 0) - natural))
        self.state_size = natural + sum(self.plan)
        meta = dict(meta)
        meta["Size"] = self.state_size
        self.meta_json = json.dumps(meta, separators=(",", ":")).encode()
        self.seal = seal
        self.level = level
        self.sums_reverse = sums_reverse
        self.mtime = int(time.time()) if mtime is None else mtime

    @staticmethod
    def _plan_filler(remaining: int):
        plan = []
        max_rec = _record_size(_FILLER_KEY_LEN, CHUNK)
        min_rec = _record_size(_FILLER_KEY_LEN, 0)
        while remaining > 0:
            if remaining < min_rec:
                # Too small for a record of its own: round the state up (it is "at least" N).
                plan.append(min_rec)
                break
            if remaining <= max_rec:
                take = remaining
            elif remaining - max_rec < min_rec:
                take = remaining - min_rec
            else:
                take = max_rec
            plan.append(take)
            remaining -= take
        return plan

    def _state_chunks(self):
        buf = bytearray()
        for r in self.records:
            buf += r
        block = _Filler.block()
        for i, size in enumerate(self.plan):
            key = "%s%08d" % (FILLER_PREFIX, i)
            vlen = _value_len_for(_FILLER_KEY_LEN, size)
            entry_head = pb_bytes(1, key.encode()) + uvarint((2 << 3) | 2) + uvarint(vlen)
            buf += uvarint(len(entry_head) + vlen) + entry_head
            if len(buf) >= CHUNK:
                yield bytes(buf)
                buf.clear()
            off = (i * 7919) % CHUNK
            left = vlen
            while left:
                take = min(left, CHUNK - off, CHUNK - len(buf))
                buf += block[off:off + take]
                off = (off + take) % CHUNK
                left -= take
                if len(buf) >= CHUNK:
                    yield bytes(buf)
                    buf.clear()
        if buf:
            yield bytes(buf)

    def _tar_stream(self):
        yield _tar_header("meta.json", len(self.meta_json), self.mtime) + self.meta_json + _pad(len(self.meta_json))
        yield _tar_header("state.bin", self.state_size, self.mtime)
        h = hashlib.sha256()
        n = 0
        for chunk in self._state_chunks():
            h.update(chunk)
            n += len(chunk)
            yield chunk
        assert n == self.state_size, (n, self.state_size)
        yield _pad(self.state_size)
        lines = ["%s  meta.json\n" % hashlib.sha256(self.meta_json).hexdigest(),
                 "%s  state.bin\n" % h.hexdigest()]
        if self.sums_reverse:
            lines.reverse()
        sums = "".join(lines).encode()
        yield _tar_header("SHA256SUMS", len(sums), self.mtime) + sums + _pad(len(sums))
        sealed = self.seal(sums)
        yield _tar_header("SHA256SUMS.sealed", len(sealed), self.mtime) + sealed + _pad(len(sealed))
        yield b"\0" * 1024

    def chunks(self):
        """gzip member: 10-byte header (no name, mtime 0, OS unknown as Go writes it), raw deflate, trailer."""
        comp = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        crc = 0
        size = 0
        yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        pending = bytearray()
        for piece in self._tar_stream():
            crc = zlib.crc32(piece, crc)
            size += len(piece)
            out = comp.compress(piece)
            if out:
                pending += out
            if len(pending) >= CHUNK // 4:
                yield bytes(pending)
                pending.clear()
        pending += comp.flush()
        pending += struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
        yield bytes(pending)


def raft_meta(index: int, term: int, servers, config_index: int) -> dict:
    """raft.SnapshotMeta (hashicorp/raft) in field order; Size is filled in by the writer."""
    peers = bytes([0x90 | min(len(servers), 15)])
    for s in servers[:15]:
        a = s["Address"].encode()
        peers += b"\xc4" + bytes([len(a)]) + a
    return {
        "Version": 1,
        "ID": "%d-%d-%d" % (term, index, int(time.time() * 1000)),
        "Index": index,
        "Term": term,
        "Peers": base64.b64encode(peers).decode(),
        "Configuration": {"Servers": [{"Suffrage": 0, "ID": s["ID"], "Address": s["Address"]} for s in servers]},
        "ConfigurationIndex": config_index,
        "Size": 0,
    }


# ---------------------------------------------------------------- reader
class SnapshotReader:
    """Incremental reader for an uploaded snapshot (the server side of restore).

    feed() raises SnapshotError with the texts Vault's raft-snapshot reader produces; finish()
    checks completeness. Afterwards: .meta (dict), .records ({key: value} without filler),
    .sums (bytes), .sealed (bytes), .hashes ({name: hexdigest})."""

    def __init__(self):
        self._z = zlib.decompressobj(wbits=31)
        self._started = False
        self._buf = bytearray()
        self._member = None          # (name, remaining, padding)
        self._ended = False
        self.members = []
        self.meta_raw = bytearray()
        self.sums = bytearray()
        self.sealed = bytearray()
        self._hash = {"meta.json": hashlib.sha256(), "state.bin": hashlib.sha256()}
        self.records = {}
        self._rec = _RecordParser(self.records)
        self.total_in = 0

    def feed(self, data: bytes):
        if not data:
            return
        self.total_in += len(data)
        if self._ended:
            return
        try:
            out = self._z.decompress(data)
        except zlib.error as e:
            if not self._started:
                raise SnapshotError("failed to decompress snapshot: gzip: invalid header")
            raise SnapshotError("failed reading snapshot: flate: corrupt input (%s)" % e)
        self._started = True
        if out:
            self._tar(out)

    def _tar(self, data: bytes):
        self._buf += data
        while True:
            if self._ended:
                self._buf.clear()
                return
            if self._member is None:
                if len(self._buf) < 512:
                    return
                hdr = bytes(self._buf[:512])
                del self._buf[:512]
                if hdr == b"\0" * 512:
                    self._ended = True
                    continue
                name, size = _parse_tar_header(hdr)
                if name == "pax":
                    continue
                if name not in MEMBERS:
                    raise SnapshotError('unexpected file "%s" in snapshot' % name)
                self.members.append(name)
                self._member = [name, size, (512 - size % 512) % 512]
                if size == 0 and self._member[2] == 0:
                    self._member = None
                continue
            name, remaining, padding = self._member
            if remaining:
                take = min(remaining, len(self._buf))
                if take == 0:
                    return
                piece = bytes(self._buf[:take])
                del self._buf[:take]
                self._consume(name, piece)
                self._member[1] -= take
                continue
            if padding:
                take = min(padding, len(self._buf))
                if take == 0:
                    return
                del self._buf[:take]
                self._member[2] -= take
                continue
            self._member = None

    def _consume(self, name: str, piece: bytes):
        if name in self._hash:
            self._hash[name].update(piece)
        if name == "meta.json":
            self.meta_raw += piece[:max(0, META_LIMIT - len(self.meta_raw))]
        elif name == "state.bin":
            self._rec.feed(piece)
        elif name == "SHA256SUMS":
            self.sums += piece[:max(0, META_LIMIT - len(self.sums))]
        elif name == "SHA256SUMS.sealed":
            self.sealed += piece[:max(0, META_LIMIT - len(self.sealed))]

    def finish(self):
        if not self._started:
            raise SnapshotError("failed to decompress snapshot: EOF")
        if not self._z.eof or self._member is not None or not self._ended:
            raise SnapshotError("failed reading snapshot: unexpected EOF")
        try:
            self.meta = json.loads(bytes(self.meta_raw)) if self.meta_raw else {}
        except ValueError:
            raise SnapshotError("failed to decode snapshot metadata: unexpected EOF")
        self.hashes = {k: v.hexdigest() for k, v in self._hash.items()}

    def verify_sums(self):
        """SHA-256 of meta.json and state.bin against SHA256SUMS (raft-snapshot's verify)."""
        listed = {}
        for line in bytes(self.sums).decode("utf-8", "replace").splitlines():
            parts = line.split()
            if len(parts) == 2:
                listed[parts[1]] = parts[0]
        for name in ("meta.json", "state.bin"):
            if name not in listed:
                raise SnapshotError('failed checking integrity of snapshot: missing "%s" in SHA256SUMS' % name)
            if listed[name].lower() != self.hashes[name]:
                raise SnapshotError('failed checking integrity of snapshot: bad hash for "%s"' % name)


def _parse_tar_header(hdr: bytes):
    chksum_field = hdr[148:156]
    try:
        stored = int(chksum_field.split(b"\0")[0].strip() or b"0", 8)
    except ValueError:
        raise SnapshotError("failed reading snapshot: archive/tar: invalid tar header")
    calc = sum(hdr[:148]) + 8 * 32 + sum(hdr[156:])
    if stored != calc:
        raise SnapshotError("failed reading snapshot: archive/tar: invalid tar header")
    typeflag = hdr[156:157]
    name = hdr[0:100].split(b"\0")[0].decode("utf-8", "replace")
    prefix = hdr[345:500].split(b"\0")[0].decode("utf-8", "replace") if hdr[257:262] == b"ustar" else ""
    if prefix:
        name = prefix + "/" + name
    size_field = hdr[124:136]
    if size_field[0] & 0x80:
        size = int.from_bytes(size_field[1:], "big")
    else:
        size = int(size_field.split(b"\0")[0].strip() or b"0", 8)
    if typeflag in (b"x", b"g"):
        return "pax", size
    return name, size


class _RecordParser:
    """Streams state.bin records; keeps non-filler entries, skips filler values unbuffered."""

    def __init__(self, out: dict):
        self.out = out
        self.buf = bytearray()
        self.need = None        # entry length once the varint is read
        self.skip = 0

    def feed(self, data: bytes):
        mv = memoryview(data)
        while len(mv):
            if self.skip:
                take = min(self.skip, len(mv))
                self.skip -= take
                mv = mv[take:]
                continue
            self.buf += mv[:65536]
            consumed = min(len(mv), 65536)
            mv = mv[consumed:]
            self._drain()

    def _drain(self):
        while True:
            if self.need is None:
                try:
                    n, i = _read_uvarint(self.buf, 0)
                except ValueError:
                    return
                del self.buf[:i]
                self.need = n
            if len(self.buf) >= self.need:
                entry = bytes(self.buf[:self.need])
                del self.buf[:self.need]
                self.need = None
                self._entry(entry)
                continue
            # A large entry: look at its key; filler is skipped without buffering.
            if len(self.buf) >= 64:
                try:
                    f = parse_pb_prefix_key(bytes(self.buf[:64]))
                except ValueError:
                    f = None
                if f is not None and f.startswith(FILLER_PREFIX):
                    self.skip = self.need - len(self.buf)
                    self.buf.clear()
                    self.need = None
                    return
            return

    def _entry(self, entry: bytes):
        try:
            fields = parse_pb(entry)
        except ValueError:
            return
        key = fields.get(1, [b""])[0].decode("utf-8", "replace")
        if key.startswith(FILLER_PREFIX):
            return
        self.out[key] = fields.get(2, [b""])[0]


def parse_pb_prefix_key(prefix: bytes):
    tag, i = _read_uvarint(prefix, 0)
    if tag != (1 << 3) | 2:
        return None
    ln, i = _read_uvarint(prefix, i)
    if i + ln > len(prefix):
        return None
    return prefix[i:i + ln].decode("utf-8", "replace")
