"""Access tokens for the three APIs, each fetched on first use and renewed on demand."""

from __future__ import annotations

import base64
import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import requests

from ingest.errors import SourceError
from ingest.redaction import register

if TYPE_CHECKING:  # each source module defines its settings and imports this one
    from ingest.sources.learning import LearningSettings
    from ingest.sources.salesforce import SalesforceSettings
    from ingest.sources.successfactors import SuccessFactorsSettings

TOKEN_TIMEOUT_SECONDS = 30
# Tokens fetched in a row with no request getting through on any: the credentials or the
# token server are broken, not a token expired (the first fetch counts, so 3 = 2 renewals).
MAX_TOKENS_REFUSED = 3


class TokenProvider(ABC):
    """Holds one bearer token, shared by every worker; ``renew`` replaces it after a 401."""

    def __init__(self, session: requests.Session) -> None:
        self._session = session
        self._token: str | None = None
        self._unproven = 0  # tokens fetched since a request last got through
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self._fetch()
                self._unproven += 1
            return self._token

    def renew(self, stale: str) -> bool:
        """Replace ``stale`` after a 401, once for every worker that saw it refused.

        True when there is a token to retry with (this call fetched it, or another worker
        already had); False when fresh tokens keep being refused before any gets through.
        """
        with self._lock:
            if self._token not in (None, stale):
                return True
            if self._unproven >= MAX_TOKENS_REFUSED:
                return False
            self._token = self._fetch()
            self._unproven += 1
            return True

    def accepted(self) -> None:
        """A request got past authentication: the tokens work, expired ones may be renewed."""
        with self._lock:
            self._unproven = 0

    @abstractmethod
    def _fetch(self) -> str: ...

    def _post(self, url: str, what: str, **kwargs: object) -> dict:
        # The session retries 429, 5xx and dropped connections (dlt's policy, bounded): a
        # token server failing once costs a retry, one failing on every try fails the run.
        try:
            response = self._session.post(url, timeout=TOKEN_TIMEOUT_SECONDS, **kwargs)
        except requests.RequestException as exc:
            raise SourceError(f"{what} token request failed: {request_failure(exc)}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise SourceError(
                f"{what} token endpoint unavailable (HTTP {response.status_code}, still after "
                f"retries): {error_text(response)}"
            )
        if response.status_code != 200:
            raise SourceError(
                f"{what} refused the credentials (HTTP {response.status_code}): "
                f"{error_text(response)}"
            )
        try:
            body = response.json()
        except ValueError:
            raise SourceError(f"{what} token endpoint answered with something not JSON") from None
        if not isinstance(body, dict) or not body.get("access_token"):
            raise SourceError(f"{what} token endpoint answered without an access_token")
        register(str(body["access_token"]))  # a bearer credential until it expires
        return body


class SalesforceToken(TokenProvider):
    """OAuth 2.0 client-credentials flow; also learns the instance URL to call."""

    def __init__(self, settings: SalesforceSettings, session: requests.Session) -> None:
        super().__init__(session)
        self._settings = settings
        self.instance_url = settings.instance_url.rstrip("/")

    def _fetch(self) -> str:
        body = self._post(
            f"{self._settings.instance_url.rstrip('/')}/services/oauth2/token",
            "Salesforce",
            data={
                "grant_type": "client_credentials",
                "client_id": self._settings.client_id,
                "client_secret": self._settings.client_secret,
            },
        )
        self.instance_url = str(body.get("instance_url") or self.instance_url).rstrip("/")
        return str(body["access_token"])


class SuccessFactorsToken(TokenProvider):
    """OAuth 2.0 SAML-bearer flow: an assertion signed here, or one from the company's IdP."""

    def __init__(self, settings: SuccessFactorsSettings, session: requests.Session) -> None:
        super().__init__(session)
        self._settings = settings

    def _fetch(self) -> str:
        token_url = f"{self._settings.api_url.rstrip('/')}/oauth/token"
        assertion = self._settings.assertion
        if self._settings.private_key:
            from ingest.saml import build_signed_assertion

            assertion = build_signed_assertion(
                client_id=self._settings.client_id,
                user_id=self._settings.user_id,
                token_url=token_url,
                private_key_pem=self._settings.private_key,
            )
        register(assertion)  # a signed assertion buys tokens for minutes: a credential
        body = self._post(
            token_url,
            "SuccessFactors",
            data={
                "company_id": self._settings.company_id,
                "client_id": self._settings.client_id,
                "grant_type": "urn:ietf:params:oauth:grant-type:saml2-bearer",
                "assertion": assertion,
            },
        )
        return str(body["access_token"])


class LearningToken(TokenProvider):
    """SuccessFactors Learning's own client-credentials endpoint (Basic auth, JSON scope)."""

    def __init__(self, settings: LearningSettings, session: requests.Session) -> None:
        super().__init__(session)
        self._settings = settings

    def _fetch(self) -> str:
        pair = f"{self._settings.client_id}:{self._settings.client_secret}".encode()
        register(base64.b64encode(pair).decode())  # base64 hides the secret inside the pair
        body = self._post(
            f"{self._settings.api_url.rstrip('/')}/learning/oauth-api/rest/v1/token",
            "SuccessFactors Learning",
            headers={"Authorization": "Basic " + base64.b64encode(pair).decode()},
            json={
                "grant_type": "client_credentials",
                "scope": {
                    "userId": self._settings.user_id,
                    "companyId": self._settings.company_id,
                    "userType": "admin",
                    "resourceType": "learning_public_api",
                },
            },
        )
        return str(body["access_token"])


def request_failure(exc: requests.RequestException) -> str:
    """What went wrong with a request that got no answer, in a few words."""
    if isinstance(exc, requests.exceptions.SSLError):
        # Verification is never turned off; a company CA is trusted via REQUESTS_CA_BUNDLE.
        return (
            "SSLError (the server's TLS certificate is not trusted; for a company CA set "
            "REQUESTS_CA_BUNDLE to its bundle)"
        )
    return type(exc).__name__


def error_text(response: requests.Response) -> str:
    """The API's own error message, whichever of the documented shapes it uses."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason
    if isinstance(body, list) and body and isinstance(body[0], dict):  # Salesforce
        first = body[0]
        return f"{first.get('errorCode', '')}: {first.get('message', '')}".strip(": ")
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # OData v2 / v4
            message = error.get("message")
            if isinstance(message, dict):
                message = message.get("value")
            return f"{error.get('code', '')}: {message or ''}".strip(": ")
        if isinstance(error, str):  # OAuth
            return f"{error}: {body.get('error_description', '')}".strip(": ")
    return str(body)[:200]
