"""The debtor's link: a random link ID and its signature, in a short address-safe token.

A token is `<link id>.<signature>`, both base64url without padding: 16 random bytes (22
characters) and the first 12 bytes of HMAC-SHA256 of those bytes under the platform's key
(16 characters). Pure: the key comes from the store."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid

SIGNATURE_BYTES = 12
# The one spelling of a token: base64 decodes other spellings of the same bytes too.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{16}$")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, link_id: uuid.UUID) -> bytes:
    return hmac.new(key, link_id.bytes, hashlib.sha256).digest()[:SIGNATURE_BYTES]


def token_of(key: bytes, link_id: uuid.UUID) -> str:
    return f"{_b64(link_id.bytes)}.{_b64(_signature(key, link_id))}"


def link_id_of(key: bytes, token: str) -> uuid.UUID | None:
    """The link the token names, or None when it was not issued with this key (malformed,
    altered, or made up)."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    raw_id, raw_signature = token.split(".")
    try:
        link_id = uuid.UUID(bytes=_unb64(raw_id))
        signature = _unb64(raw_signature)
    except (ValueError, binascii.Error):
        return None
    if not hmac.compare_digest(signature, _signature(key, link_id)):
        return None
    return link_id if token_of(key, link_id) == token else None
