"""Keyed pseudonyms for client ids: the raw id never reaches the warehouse."""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_HEX_CHARS = 16


def pseudonymise(client_id: str, key: bytes) -> str:
    """HMAC-SHA256 of the raw client id under `key`, as the first 16 lower-case hex digits."""
    if not key:
        raise ValueError("pseudonym key must not be empty")

    digest = hmac.new(key, client_id.encode("utf-8"), hashlib.sha256).hexdigest()

    return digest[:PSEUDONYM_HEX_CHARS]
