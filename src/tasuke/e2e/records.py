"""The record layer: AES-256-GCM with a strict, explicit sequence number per direction.

A record frame is ``0x10 || seq (8 bytes, big-endian) || AES-256-GCM(plaintext) || tag``.
nonce = direction (4 bytes) || seq; AAD = session id || direction || seq. The first record in
each direction has seq 0 and every further one exactly the previous + 1, so a replayed, dropped
or reordered record fails before decryption is even tried.
"""

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tasuke import limits
from tasuke.e2e.wire import (
    MAX_RECORD_FRAME,
    MIN_RECORD_FRAME,
    RECORD_HEADER_LENGTH,
    MessageType,
)
from tasuke.errors import E2EError

__all__ = ["MAX_SEQUENCE", "RecordLayer"]

MAX_SEQUENCE = 2**64 - 1


class RecordLayer:
    """Seals outgoing and opens incoming records for one established session."""

    def __init__(
        self,
        session_id: bytes,
        *,
        send_key: bytes,
        send_direction: bytes,
        receive_key: bytes,
        receive_direction: bytes,
    ) -> None:
        self._session_id = session_id
        self._send: AESGCM | None = AESGCM(send_key)
        self._receive: AESGCM | None = AESGCM(receive_key)
        self._send_direction = send_direction
        self._receive_direction = receive_direction
        self._send_seq = 0
        self._receive_seq = 0

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt one plaintext (channel byte + payload) into a record frame.

        Raises:
            E2EError: the plaintext is empty or over the limit, the sequence space is spent, or
                the layer was wiped.
        """
        if self._send is None:
            raise E2EError("record keys wiped")
        if not 1 <= len(plaintext) <= limits.MAX_RECORD_PLAINTEXT:
            raise E2EError("record plaintext size out of range")
        seq = self._send_seq
        if seq > MAX_SEQUENCE:
            raise E2EError("record sequence numbers exhausted")
        self._send_seq = seq + 1
        nonce, aad = self._nonce_and_aad(self._send_direction, seq)
        header = bytes([MessageType.RECORD]) + struct.pack("!Q", seq)
        return header + self._send.encrypt(nonce, plaintext, aad)

    def open(self, frame: bytes) -> bytes:
        """Check and decrypt one record frame; return its plaintext.

        Raises:
            E2EError: truncated or oversized frame, out-of-order sequence (gap, replay,
                reorder), or a bad authentication tag.
        """
        if self._receive is None:
            raise E2EError("record keys wiped")
        if len(frame) < MIN_RECORD_FRAME:
            raise E2EError("truncated record")
        if len(frame) > MAX_RECORD_FRAME:
            raise E2EError("record too large")
        (seq,) = struct.unpack("!Q", frame[1:RECORD_HEADER_LENGTH])
        if seq != self._receive_seq:
            raise E2EError(f"record sequence {seq} where {self._receive_seq} was due")
        nonce, aad = self._nonce_and_aad(self._receive_direction, seq)
        try:
            plaintext = self._receive.decrypt(nonce, bytes(frame[RECORD_HEADER_LENGTH:]), aad)
        except InvalidTag:
            raise E2EError("record failed authentication") from None
        self._receive_seq = seq + 1
        return plaintext

    def wipe(self) -> None:
        """Drop both ciphers; every later seal or open raises."""
        self._send = None
        self._receive = None

    def _nonce_and_aad(self, direction: bytes, seq: int) -> tuple[bytes, bytes]:
        seq_bytes = struct.pack("!Q", seq)
        return direction + seq_bytes, self._session_id + direction + seq_bytes
