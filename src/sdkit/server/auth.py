"""HTTP basic auth for `--api-auth`, as A1111 does it: every pair compared in constant time.

Pure standard library. Credentials are never logged; a refused request is logged with its client
address only.
"""

from __future__ import annotations

import base64
import binascii
import hmac


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic ...` header, or None when there is none or it is malformed."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def is_authorised(header: str | None, allowed: tuple[tuple[str, str], ...]) -> bool:
    """Whether the header names one of the allowed pairs; every pair is compared, so the time taken
    does not tell which part of which pair matched."""
    given = basic_credentials(header)
    if given is None:
        return False
    user, password = given[0].encode(), given[1].encode()
    matched = False
    for allowed_user, allowed_password in allowed:
        same_user = hmac.compare_digest(user, allowed_user.encode())
        same_password = hmac.compare_digest(password, allowed_password.encode())
        matched |= same_user & same_password
    return matched
