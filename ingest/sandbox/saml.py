"""The token server's side of the SuccessFactors SAML-bearer flow: verify an assertion.

The loader signs its own assertion (``ingest.saml``); this module is what SuccessFactors
does with it: check the enveloped XML-DSig (RSA-SHA256, SHA-256 digests) against the
certificate registered for the OAuth client, then the validity window, and read only the
signed element. It also makes the key pair a sandbox tenant registers for its client.
Nothing here is imported from the loader, so the sandbox judges assertions as a real
tenant would, not by the client's own constants.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
SUCCESSFACTORS_AUDIENCE = "www.successfactors.com"
# Clocks of the signer and the token server disagree a little in practice.
DEFAULT_CLOCK_SKEW = dt.timedelta(minutes=5)

_NS = {"saml2": SAML_NS}


class SamlAssertionError(ValueError):
    """An assertion that cannot be trusted: bad encoding, signature, or conditions."""


@dataclass(frozen=True)
class VerifiedAssertion:
    """What a token server learns from an assertion whose signature checked out."""

    issuer: str
    name_id: str
    audiences: tuple[str, ...]
    recipient: str | None
    not_before: dt.datetime
    not_on_or_after: dt.datetime
    api_key: str | None


def _parse_iso(text: str | None, what: str) -> dt.datetime:
    if not text:
        raise SamlAssertionError(f"assertion has no {what}")
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError as exc:
        raise SamlAssertionError(f"assertion {what} is not a timestamp: {text!r}") from exc


def verify_signed_assertion(
    assertion_b64: str,
    *,
    certificate_pem: str | bytes,
    now: dt.datetime | None = None,
    clock_skew: dt.timedelta = DEFAULT_CLOCK_SKEW,
) -> VerifiedAssertion:
    """Check the signature against the registered certificate and the validity window.

    Only the signed element is read afterwards, so content outside the signature (the
    classic signature-wrapping trick) cannot change what is trusted.
    """
    try:
        xml = base64.b64decode(assertion_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlAssertionError("assertion is not valid base64") from exc
    cert = certificate_pem.decode() if isinstance(certificate_pem, bytes) else certificate_pem
    expect = SignatureConfiguration(
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        # The signer may or may not embed its certificate; the registered one decides.
        ignore_ambiguous_key_info=True,
    )
    try:
        result = XMLVerifier().verify(xml, x509_cert=cert, id_attribute="ID", expect_config=expect)
    except (InvalidSignature, InvalidInput, etree.XMLSyntaxError) as exc:
        raise SamlAssertionError(f"signature does not verify: {exc}") from exc
    signed = result.signed_xml  # type: ignore[union-attr]
    if signed is None or signed.tag != f"{{{SAML_NS}}}Assertion":
        raise SamlAssertionError("the signature does not cover a SAML Assertion")
    return _read_assertion(signed, now=now, clock_skew=clock_skew)


def _read_assertion(
    signed: etree._Element, *, now: dt.datetime | None, clock_skew: dt.timedelta
) -> VerifiedAssertion:
    issuer = signed.findtext("saml2:Issuer", namespaces=_NS)
    name_id = signed.findtext("saml2:Subject/saml2:NameID", namespaces=_NS)
    if not issuer or not name_id:
        raise SamlAssertionError("assertion lacks an Issuer or a Subject NameID")
    conditions = signed.find("saml2:Conditions", namespaces=_NS)
    if conditions is None:
        raise SamlAssertionError("assertion has no Conditions")
    not_before = _parse_iso(conditions.get("NotBefore"), "NotBefore")
    not_after = _parse_iso(conditions.get("NotOnOrAfter"), "NotOnOrAfter")
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if moment + clock_skew < not_before:
        raise SamlAssertionError("assertion is not valid yet (NotBefore is in the future)")
    if moment - clock_skew >= not_after:
        raise SamlAssertionError("assertion has expired (NotOnOrAfter has passed)")
    audiences = tuple(
        (a.text or "").strip()
        for a in conditions.findall("saml2:AudienceRestriction/saml2:Audience", namespaces=_NS)
    )
    data = signed.find("saml2:Subject/saml2:SubjectConfirmation/saml2:SubjectConfirmationData", _NS)
    recipient = data.get("Recipient") if data is not None else None
    api_key = signed.findtext(
        "saml2:AttributeStatement/saml2:Attribute[@Name='api_key']/saml2:AttributeValue",
        namespaces=_NS,
    )
    return VerifiedAssertion(
        issuer=issuer.strip(),
        name_id=name_id.strip(),
        audiences=audiences,
        recipient=recipient,
        not_before=not_before,
        not_on_or_after=not_after,
        api_key=api_key,
    )


def generate_signing_credentials(common_name: str = "peoplestack") -> tuple[str, str]:
    """Make an RSA key and a self-signed certificate (PEM strings), as registered in SF."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365 * 30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
