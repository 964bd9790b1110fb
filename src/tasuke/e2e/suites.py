"""Ephemeral key agreement for the two suites: X25519 and ECDH on P-256.

Private keys come from the injected ``rng`` so that the known-answer vectors are reproducible:

- X25519: the private key is ``rng(32)`` as is; RFC 7748 section 5 clamping is done by the
  primitive, on both the Python and the WebCrypto side.
- P-256: ``c = rng(40)`` read as a big-endian integer, ``d = (c mod (n - 1)) + 1`` where ``n`` is
  the group order. This is the "extra random bits" method of FIPS 186-5 appendix A.2.1: 64 extra
  bits make the bias of the reduction negligible, and ``d`` is never 0.

``cryptography``'s exceptions stop here and become :class:`~tasuke.errors.E2EError`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from tasuke.e2e.wire import PUBLIC_KEY_LENGTH, Suite
from tasuke.errors import E2EError

__all__ = ["P256_ORDER", "P256_SEED_LENGTH", "X25519_SEED_LENGTH", "KeyPair", "generate_key_pair"]

Rng = Callable[[int], bytes]

X25519_SEED_LENGTH: Final = 32
P256_SEED_LENGTH: Final = 40
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""The order n of the P-256 group (FIPS 186-5 / SEC 2)."""

_PrivateKey = x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey


def _take(rng: Rng, n: int) -> bytes:
    data = rng(n)
    if len(data) != n:
        # A short read from the rng would silently weaken the key.
        raise E2EError("random source returned the wrong number of bytes")
    return data


@dataclass(slots=True)
class KeyPair:
    """An ephemeral key pair of one suite; ``exchange`` is its only use."""

    suite: Suite
    public: bytes
    _private: _PrivateKey | None

    def exchange(self, peer_public: bytes) -> bytes:
        """Compute the shared secret with the peer's public key.

        Raises:
            E2EError: the key was wiped, or the peer's key is malformed, not on the curve, or
                of small order (an all-zero X25519 result).
        """
        private = self._private
        if private is None:
            raise E2EError("key pair already wiped")
        if len(peer_public) != PUBLIC_KEY_LENGTH[self.suite]:
            raise E2EError("peer public key has the wrong length")
        try:
            if isinstance(private, x25519.X25519PrivateKey):
                peer = x25519.X25519PublicKey.from_public_bytes(peer_public)
                return private.exchange(peer)
            if peer_public[0] != 0x04:
                raise E2EError("P-256 public key must be an uncompressed point")
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer_public)
            return private.exchange(ec.ECDH(), point)
        except ValueError:
            # cryptography raises ValueError for points off the curve and for the all-zero
            # X25519 output of low-order points (RFC 7748 section 6.1 allows aborting).
            raise E2EError("peer public key rejected") from None

    def wipe(self) -> None:
        """Drop the private key (best effort: Python cannot zero the library's copy)."""
        self._private = None


def generate_key_pair(suite: Suite, rng: Rng) -> KeyPair:
    """Make a fresh key pair for ``suite`` from ``rng`` (see the module docstring).

    Raises:
        E2EError: the rng returned the wrong number of bytes.
    """
    if suite is Suite.X25519:
        x_private = x25519.X25519PrivateKey.from_private_bytes(_take(rng, X25519_SEED_LENGTH))
        public = x_private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return KeyPair(suite, public, x_private)
    c = int.from_bytes(_take(rng, P256_SEED_LENGTH), "big")
    d = c % (P256_ORDER - 1) + 1
    p_private = ec.derive_private_key(d, ec.SECP256R1())
    public = p_private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return KeyPair(suite, public, p_private)
