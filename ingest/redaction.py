"""Every secret this process knows, masked from every text it makes, in every form it takes.

A secret reaches text in more shapes than the one configured: URL-encoded in a form body a
token server echoes back, JSON-escaped, inside a Basic ``base64(id:secret)`` header, or as a
credential made at run time (a signed SAML assertion, an access token). The configured
secrets are registered at the edge (``register_settings``); credentials derived later are
registered where they are made. Errors are masked where they are made
(``PeoplestackError``), and so is every line the loader prints or writes to the ledger.
"""

from __future__ import annotations

import base64
import json
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values would mask ordinary words; no real credential is this short.
MIN_SECRET_LENGTH = 6
# A PEM key is also masked line by line, in case a fragment is printed.
MIN_FRAGMENT_LENGTH = 16


class SecretRegistry:
    """The secrets of one process, each with the forms it may take in a text."""

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._ordered: list[str] = []
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        """Mask ``value`` and its encoded forms (and each long line of a multi-line value)."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        parts = [value, *(line.strip() for line in value.splitlines())]
        forms: set[str] = set()
        for part in parts:
            if len(part) < MIN_SECRET_LENGTH or (part != value and len(part) < MIN_FRAGMENT_LENGTH):
                continue
            forms |= {
                part,
                quote(part, safe=""),
                quote_plus(part),
                json.dumps(part)[1:-1],
                base64.b64encode(part.encode()).decode().rstrip("="),
            }
        self._extend(forms)

    def add_basic_credentials(self, user: str, secret: str | None) -> None:
        """Mask an HTTP Basic ``base64(user:secret)`` (base64 hides the secret inside it)."""
        if secret:
            self.add(secret)
            self.add(base64.b64encode(f"{user}:{secret}".encode()).decode())

    def redact(self, text: str) -> str:
        """``text`` with every known form of every secret replaced by ``***``."""
        for form in self._ordered:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def _extend(self, forms: set[str]) -> None:
        with self._lock:
            new = forms - self._forms
            if new:
                self._forms |= new
                # Longest first, so a secret's encoded form is not half-masked by a shorter one.
                self._ordered = sorted(self._forms, key=len, reverse=True)


SECRETS = SecretRegistry()


def register(value: str | None) -> None:
    """Mask ``value`` (a secret, token or assertion) from everything this process prints."""
    SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret masked."""
    return SECRETS.redact(text)
