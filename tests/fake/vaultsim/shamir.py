"""Shamir secret sharing over GF(2^8), as hashicorp/vault `shamir/shamir.go` does it.

docs/vault-cli.md §2/§3: a share is the secret's length in y-bytes followed by ONE x-coordinate
byte (33 bytes for Vault's 32-byte key, i.e. 44 base64 / 66 hex characters). x-coordinates are
distinct random values in 1..255; each secret byte gets its own random polynomial of degree
threshold-1 whose constant term is that byte. Field arithmetic uses the AES polynomial
x^8 + x^4 + x^3 + x + 1 (0x11b); addition is XOR.
"""
import secrets

SHARE_OVERHEAD = 1


def _mul(a: int, b: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return r


_EXP = [0] * 512
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x = _mul(_x, 3)
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("divide by zero")
    if a == 0:
        return 0
    return _EXP[(_LOG[a] - _LOG[b]) % 255]


def _evaluate(coeffs, x: int) -> int:
    # Horner's method, highest degree first.
    out = 0
    for c in reversed(coeffs):
        out = mul(out, x) ^ c
    return out


class ShamirError(Exception):
    pass


def split(secret: bytes, parts: int, threshold: int):
    if parts < threshold:
        raise ShamirError("parts cannot be less than threshold")
    if parts > 255:
        raise ShamirError("parts cannot exceed 255")
    if threshold < 2:
        raise ShamirError("threshold must be at least 2")
    if threshold > 255:
        raise ShamirError("threshold cannot exceed 255")
    if not secret:
        raise ShamirError("cannot split an empty secret")
    xs = list(range(255))
    # Fisher-Yates with a CSPRNG (Vault uses math/rand Perm; any distinct set is valid).
    for i in range(len(xs) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        xs[i], xs[j] = xs[j], xs[i]
    out = [bytearray(len(secret) + 1) for _ in range(parts)]
    for idx in range(parts):
        out[idx][len(secret)] = xs[idx] + 1
    for bidx, val in enumerate(secret):
        coeffs = [val] + [secrets.randbelow(256) for _ in range(threshold - 1)]
        for i in range(parts):
            out[i][bidx] = _evaluate(coeffs, xs[i] + 1)
    return [bytes(o) for o in out]


def combine(parts):
    """shamir.Combine with its exact error texts."""
    if len(parts) < 2:
        raise ShamirError("less than two parts cannot be used to reconstruct the secret")
    first_len = len(parts[0])
    if first_len < 2:
        raise ShamirError("parts must be at least two bytes")
    for p in parts[1:]:
        if len(p) != first_len:
            raise ShamirError("all parts must be the same length")
    xs = []
    seen = set()
    for p in parts:
        x = p[first_len - 1]
        if x in seen:
            raise ShamirError("duplicate part detected")
        seen.add(x)
        xs.append(x)
    secret = bytearray(first_len - 1)
    for idx in range(first_len - 1):
        ys = [p[idx] for p in parts]
        # Lagrange interpolation at x = 0.
        result = 0
        for i, xi in enumerate(xs):
            basis = 1
            for j, xj in enumerate(xs):
                if i == j:
                    continue
                num = xj            # 0 ^ xj
                den = xi ^ xj
                basis = mul(basis, div(num, den))
            result ^= mul(ys[i], basis)
        secret[idx] = result
    return bytes(secret)
