"""Signed unsubscribe tokens: ``base64url(email) "." base64url(HMAC-SHA256(key, email))``.

Tokens do not expire (an unsubscribe link must keep working) and carry nothing but the
address; the key is ``EMAIL_UNSUBSCRIBE_SECRET``, else derived from
``INTERNAL_ADMIN_TOKEN`` (:func:`unsubscribe_key`).

Examples
--------
>>> token = make_token(b"k" * 32, "Ops@Town.gov")
>>> read_token(b"k" * 32, token)
'ops@town.gov'
>>> read_token(b"x" * 32, token) is None
True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Final
from urllib.parse import quote

__all__ = ["make_token", "read_token", "unsubscribe_key", "unsubscribe_url"]

_CONTEXT: Final = b"cleanapp-unsubscribe-v1:"


def unsubscribe_key(secret: str | None, internal_admin_token: str | None) -> bytes | None:
    """Return the HMAC key of unsubscribe tokens, or None when nothing is configured."""
    if secret:
        return secret.encode("utf-8")
    if internal_admin_token:
        return hmac.new(
            internal_admin_token.encode("utf-8"), b"cleanapp-unsubscribe-key", hashlib.sha256
        ).digest()
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, email: str) -> bytes:
    return hmac.new(key, _CONTEXT + email.encode("utf-8"), hashlib.sha256).digest()


def make_token(key: bytes, email: str) -> str:
    """Return the unsubscribe token of an address (lower-cased, trimmed)."""
    address = email.strip().lower()
    return f"{_b64(address.encode('utf-8'))}.{_b64(_mac(key, address))}"


def read_token(key: bytes, token: str | None) -> str | None:
    """Return the address of a valid token, else None (constant-time signature check)."""
    if not token or token.count(".") != 1:
        return None
    head, signature = token.strip().split(".")
    try:
        address = _unb64(head).decode("utf-8")
        given = _unb64(signature)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not address or address != address.strip().lower():
        return None
    return address if hmac.compare_digest(given, _mac(key, address)) else None


def unsubscribe_url(base_url: str, token: str) -> str:
    """Return ``<base_url>/unsubscribe?token=<token>``."""
    return f"{base_url.rstrip('/')}/unsubscribe?token={quote(token, safe='')}"
