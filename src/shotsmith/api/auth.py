"""API keys: `Authorization: Bearer <key>`; each key owns the jobs it created.

Keys come from SHOTSMITH_API_KEYS. The database stores only a key's SHA-256
(`owner_of`). With no keys configured, auth is off: every request is the same
local owner, and the server refuses to listen beyond loopback.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shotsmith.api.errors import ApiError
from shotsmith.jobs import owner_of

LOCAL_OWNER = owner_of("")
bearer_scheme = HTTPBearer(auto_error=False, description="An API key from SHOTSMITH_API_KEYS")


def require_owner(request: Request,
                  credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> str:
    """FastAPI dependency: the owner id of the request's key (401 without a valid one).

    The header is parsed once, by the declared HTTPBearer scheme (which also documents it
    in OpenAPI); it gives None both for no header and for a malformed one, and those two
    get different answers here."""
    keys: tuple[str, ...] = request.app.state.settings.api_keys
    if not keys:
        return LOCAL_OWNER
    if credentials is None:
        if "authorization" in request.headers:
            raise ApiError("invalid_key", "Authorization header must be 'Bearer <API key>'")
        raise ApiError("unauthenticated", "missing API key: send 'Authorization: Bearer <key>'")
    token = credentials.credentials.encode()
    matched = False
    for key in keys:  # compare with every key, in constant time, so timing tells nothing
        matched |= hmac.compare_digest(token, key.encode())
    if not matched:
        raise ApiError("invalid_key", "invalid API key")
    return owner_of(credentials.credentials)


def is_admin(owner: str, settings) -> bool:
    """Whether the owner may see every key's numbers (/metrics): a SHOTSMITH_ADMIN_KEYS key,
    or anyone when auth is off (one local owner: there is no other key to hide)."""
    if not settings.auth_enabled:
        return True
    return any(hmac.compare_digest(owner, owner_of(key)) for key in settings.admin_keys)
