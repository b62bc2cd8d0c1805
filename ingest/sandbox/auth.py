"""Access tokens of the three APIs: issued, checked, expired and revoked on demand.

Token lifetimes use the real clock, because real clients mint and refresh them.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass


@dataclass
class Token:
    value: str
    api: str
    client_id: str
    expires_at: float
    user_id: str | None = None
    user_type: str | None = None
    pages_served: int = 0
    revoked: bool = False


class TokenStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}

    def issue(
        self,
        api: str,
        client_id: str,
        lifetime_seconds: int,
        *,
        prefix: str = "",
        user_id: str | None = None,
        user_type: str | None = None,
    ) -> Token:
        token = Token(
            value=prefix + secrets.token_urlsafe(32),
            api=api,
            client_id=client_id,
            expires_at=time.time() + lifetime_seconds,
            user_id=user_id,
            user_type=user_type,
        )
        with self._lock:
            self._tokens[token.value] = token
        return token

    def check(self, api: str, authorization: str | None) -> Token | None:
        """The live token named by an ``Authorization: Bearer ...`` header, if any."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        value = authorization[7:].strip()
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.api != api or token.revoked:
                return None
            if token.expires_at <= time.time():
                del self._tokens[value]
                return None
            return token

    def count_page(self, token: Token, page_limit: int) -> None:
        """Record a served page; a fault may make the token die after ``page_limit`` pages."""
        with self._lock:
            token.pages_served += 1
            if page_limit and token.pages_served >= page_limit:
                token.revoked = True

    def issued(self, api: str) -> list[Token]:
        """Every token issued for ``api`` so far (expired ones until first checked)."""
        with self._lock:
            return [token for token in self._tokens.values() if token.api == api]

    def revoke_all(self, api: str | None = None) -> None:
        with self._lock:
            for token in self._tokens.values():
                if api is None or token.api == api:
                    token.revoked = True
