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


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError("invalid_key", "Authorization header must be 'Bearer <API key>'")
    return token.strip()


def require_owner(request: Request,
                  _documented: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> str:
    """FastAPI dependency: the owner id of the request's key (401 without a valid one)."""
    keys: tuple[str, ...] = request.app.state.settings.api_keys
    if not keys:
        return LOCAL_OWNER
    token = bearer_token(request)
    if token is None:
        raise ApiError("unauthenticated", "missing API key: send 'Authorization: Bearer <key>'")
    matched = False
    for key in keys:  # compare with every key, in constant time, so timing tells nothing
        matched |= hmac.compare_digest(token.encode(), key.encode())
    if not matched:
        raise ApiError("invalid_key", "invalid API key")
    return owner_of(token)
