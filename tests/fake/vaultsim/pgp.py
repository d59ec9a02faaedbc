"""Minimal OpenPGP (RFC 4880) for `vault operator init -pgp-keys / -root-token-pgp-key`.

Vault encrypts each unseal share (and the root token) to the given public keys with
golang.org/x/crypto/openpgp and returns the ciphertext hex/base64-encoded (docs/vault-cli.md §2: "With PGP
keys, the *_b64 values are base64 PGP ciphertext"). This module does the same for RSA keys:
a Public-Key Encrypted Session Key packet (v3, RSA PKCS#1 v1.5) followed by a Symmetrically
Encrypted Integrity Protected Data packet (AES-128 CFB, MDC) holding a binary literal packet, so
`gpg --decrypt` with the matching secret key recovers the share.

Parsing follows x/crypto/openpgp's ReadEntity checks and error texts where they matter:
the first packet must be a public key, there must be a user ID; only RSA keys are supported
(x/crypto/openpgp cannot read Ed25519/Curve25519 keys either). Self-signatures are not verified.

make_test_key()/decrypt() exist for the tests (a v4 RSA key with a user ID and a valid
self-signature, and the inverse of encrypt()).
"""
import hashlib
import os
import struct
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class PGPError(Exception):
    pass


class PublicKey:
    def __init__(self, n: int, e: int, key_id: bytes, fingerprint: bytes):
        self.n = n
        self.e = e
        self.key_id = key_id
        self.fingerprint = fingerprint


def _read_packets(data: bytes):
    i = 0
    out = []
    while i < len(data):
        tag_byte = data[i]
        if not tag_byte & 0x80:
            raise PGPError("openpgp: invalid data: tag byte does not have MSB set")
        i += 1
        if tag_byte & 0x40:                   # new format
            tag = tag_byte & 0x3F
            if i >= len(data):
                raise PGPError("unexpected EOF")
            b0 = data[i]
            if b0 < 192:
                ln, i = b0, i + 1
            elif b0 < 224:
                ln, i = ((b0 - 192) << 8) + data[i + 1] + 192, i + 2
            elif b0 == 255:
                ln, i = struct.unpack(">I", data[i + 1:i + 5])[0], i + 5
            else:
                raise PGPError("openpgp: unsupported feature: partial body length")
        else:                                 # old format
            tag = (tag_byte >> 2) & 0x0F
            lt = tag_byte & 3
            if lt == 0:
                ln, i = data[i], i + 1
            elif lt == 1:
                ln, i = struct.unpack(">H", data[i:i + 2])[0], i + 2
            elif lt == 2:
                ln, i = struct.unpack(">I", data[i:i + 4])[0], i + 4
            else:
                ln = len(data) - i
        body = data[i:i + ln]
        if len(body) != ln:
            raise PGPError("unexpected EOF")
        out.append((tag, body))
        i += ln
    return out


def _mpi(data: bytes, i: int):
    bits = struct.unpack(">H", data[i:i + 2])[0]
    n = (bits + 7) // 8
    return int.from_bytes(data[i + 2:i + 2 + n], "big"), i + 2 + n


def _enc_mpi(v: int) -> bytes:
    b = v.to_bytes((v.bit_length() + 7) // 8 or 1, "big")
    return struct.pack(">H", v.bit_length()) + b


def _key_from_body(body: bytes) -> PublicKey:
    if not body or body[0] != 4:
        raise PGPError("openpgp: unsupported feature: public key version")
    algo = body[5]
    if algo not in (1, 2, 3):
        raise PGPError("openpgp: unsupported feature: public key type: %d" % algo)
    n, i = _mpi(body, 6)
    e, _ = _mpi(body, i)
    fp = hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).digest()
    return PublicKey(n, e, fp[-8:], fp)


def parse_public_key(data: bytes) -> PublicKey:
    """An entity's encryption key: the first RSA subkey, else the RSA primary key."""
    packets = _read_packets(data)
    if not packets or packets[0][0] not in (5, 6):
        raise PGPError("openpgp: invalid data: first packet was not a public/private key")
    if not any(tag == 13 for tag, _ in packets):
        raise PGPError("openpgp: invalid data: entity without any identities")
    primary = packets[0][1]
    for tag, body in packets[1:]:
        if tag == 14 and len(body) > 5 and body[5] in (1, 2):
            return _key_from_body(body)
    return _key_from_body(primary)


def _packet(tag: int, body: bytes) -> bytes:
    ln = len(body)
    if ln < 192:
        hdr = bytes([ln])
    elif ln < 8384:
        ln2 = ln - 192
        hdr = bytes([(ln2 >> 8) + 192, ln2 & 0xFF])
    else:
        hdr = b"\xff" + struct.pack(">I", ln)
    return bytes([0xC0 | tag]) + hdr + body


def encrypt(key: PublicKey, plaintext: bytes) -> bytes:
    session = os.urandom(16)
    check = struct.pack(">H", sum(session) & 0xFFFF)
    pub = rsa.RSAPublicNumbers(key.e, key.n).public_key()
    c = pub.encrypt(bytes([7]) + session + check, padding.PKCS1v15())
    pkesk = _packet(1, b"\x03" + key.key_id + b"\x01" + _enc_mpi(int.from_bytes(c, "big")))
    literal = _packet(11, b"b\x00" + struct.pack(">I", 0) + plaintext)
    prefix = os.urandom(16)
    prefix += prefix[-2:]
    mdc_hash = hashlib.sha1(prefix + literal + b"\xd3\x14").digest()
    enc = Cipher(algorithms.AES(session), modes.CFB(b"\0" * 16)).encryptor()
    ct = enc.update(prefix + literal + b"\xd3\x14" + mdc_hash) + enc.finalize()
    return pkesk + _packet(18, b"\x01" + ct)


# ---------------------------------------------------------------- for tests
def make_test_key(name: str = "vaultsim test <test@example.invalid>", bits: int = 2048):
    """A v4 RSA public key (key + user ID + positive self-certification) and its private key."""
    priv = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    nums = priv.public_key().public_numbers()
    created = struct.pack(">I", int(time.time()))
    body = b"\x04" + created + b"\x01" + _enc_mpi(nums.n) + _enc_mpi(nums.e)
    uid = name.encode()
    key_id = hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).digest()[-8:]
    hashed = (_subpacket(2, created) + _subpacket(27, b"\x0f") + _subpacket(11, b"\x09\x07"))
    sig_head = b"\x04\x13\x01\x08" + struct.pack(">H", len(hashed)) + hashed
    to_hash = (b"\x99" + struct.pack(">H", len(body)) + body + b"\xb4" + struct.pack(">I", len(uid)) + uid
               + sig_head + b"\x04\xff" + struct.pack(">I", len(sig_head)))
    digest = hashlib.sha256(to_hash).digest()
    sig = priv.sign(to_hash, padding.PKCS1v15(), hashes.SHA256())
    unhashed = _subpacket(16, key_id)
    sig_body = sig_head + struct.pack(">H", len(unhashed)) + unhashed + digest[:2] + _enc_mpi(int.from_bytes(sig, "big"))
    public = _packet(6, body) + _packet(13, uid) + _packet(2, sig_body)
    return public, priv


def _subpacket(typ: int, data: bytes) -> bytes:
    return bytes([len(data) + 1, typ]) + data


def decrypt(priv, message: bytes) -> bytes:
    packets = _read_packets(message)
    session = None
    for tag, body in packets:
        if tag == 1:
            c, _ = _mpi(body, 10)
            k = priv.key_size // 8
            m = priv.decrypt(c.to_bytes(k, "big"), padding.PKCS1v15())
            session = m[1:-2]
        elif tag == 18:
            dec = Cipher(algorithms.AES(session), modes.CFB(b"\0" * 16)).decryptor()
            pt = dec.update(body[1:]) + dec.finalize()
            inner = pt[18:-22]
            if hashlib.sha1(pt[:-20]).digest() != pt[-20:]:
                raise PGPError("openpgp: MDC check failed")
            (ltag, lbody), = _read_packets(inner)
            fnlen = lbody[1]
            return lbody[2 + fnlen + 4:]
    raise PGPError("no encrypted data")


def armor_decode(text: str) -> bytes:
    """The body of an ASCII-armored block (headers and the CRC line dropped)."""
    import base64
    lines = text.strip().splitlines()
    body = []
    in_body = False
    seen_blank = False
    for line in lines:
        if line.startswith("-----BEGIN"):
            in_body = True
            continue
        if line.startswith("-----END"):
            break
        if not in_body:
            continue
        if not seen_blank:
            if line.strip() == "":
                seen_blank = True
                continue
            if ":" in line:
                continue
            seen_blank = True
        if line.startswith("="):
            continue
        body.append(line.strip())
    return base64.b64decode("".join(body))
