"""SAML 2.0 bearer assertions for the SuccessFactors OAuth SAML-bearer flow.

SAP's ``/oauth/idp`` endpoint that signs assertions server-side is deprecated, so the
client signs its own assertion with the private key whose certificate is registered for
the OAuth client (Admin Center > Manage OAuth2 Client Applications). The shape follows
SAP's sample assertion: Issuer = client id (the API key), Subject NameID = the API user,
a bearer SubjectConfirmation whose Recipient is the token URL, Audience
``www.successfactors.com``, an AuthnStatement and an ``api_key`` attribute.

The signature is enveloped XML-DSig, RSA-SHA256 over SHA-256 digests with exclusive
canonicalisation, placed right after ``Issuer`` as the SAML schema requires.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidInput, InvalidSignature

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
SUCCESSFACTORS_AUDIENCE = "www.successfactors.com"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
BEARER_METHOD = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
# Clocks of the signer and the token server disagree a little in practice.
DEFAULT_CLOCK_SKEW = dt.timedelta(minutes=5)

_NS = {"saml2": SAML_NS, "ds": DSIG_NS}


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


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_iso(text: str | None, what: str) -> dt.datetime:
    if not text:
        raise SamlAssertionError(f"assertion has no {what}")
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError as exc:
        raise SamlAssertionError(f"assertion {what} is not a timestamp: {text!r}") from exc


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str):
    element = etree.SubElement(parent, f"{{{SAML_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def build_assertion_xml(
    *,
    client_id: str,
    user_id: str,
    token_url: str,
    audience: str = SUCCESSFACTORS_AUDIENCE,
    lifetime: dt.timedelta = dt.timedelta(minutes=10),
    now: dt.datetime | None = None,
    name_id_format: str = NAMEID_UNSPECIFIED,
) -> etree._Element:
    """Build the unsigned assertion element (with a signature placeholder after Issuer)."""
    issued = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    # NotBefore a little in the past so a slightly slow server clock still accepts it.
    not_before, not_after = issued - dt.timedelta(minutes=1), issued + lifetime
    assertion_id = "_" + uuid.uuid4().hex
    root = etree.Element(
        f"{{{SAML_NS}}}Assertion",
        {"ID": assertion_id, "IssueInstant": _iso(issued), "Version": "2.0"},
        nsmap={"saml2": SAML_NS},
    )
    _sub(root, "Issuer", client_id)
    # signxml fills a ds:Signature element with Id="placeholder" in place.
    etree.SubElement(root, f"{{{DSIG_NS}}}Signature", {"Id": "placeholder"}, nsmap={"ds": DSIG_NS})
    subject = _sub(root, "Subject")
    _sub(subject, "NameID", user_id, Format=name_id_format)
    confirmation = _sub(subject, "SubjectConfirmation", Method=BEARER_METHOD)
    _sub(confirmation, "SubjectConfirmationData", NotOnOrAfter=_iso(not_after), Recipient=token_url)
    conditions = _sub(root, "Conditions", NotBefore=_iso(not_before), NotOnOrAfter=_iso(not_after))
    restriction = _sub(conditions, "AudienceRestriction")
    _sub(restriction, "Audience", audience)
    authn = _sub(root, "AuthnStatement", AuthnInstant=_iso(issued), SessionIndex=assertion_id)
    context = _sub(authn, "AuthnContext")
    _sub(context, "AuthnContextClassRef", AUTHN_CONTEXT)
    attributes = _sub(root, "AttributeStatement")
    attribute = _sub(attributes, "Attribute", Name="api_key")
    _sub(attribute, "AttributeValue", client_id)
    return root


def build_signed_assertion(
    *,
    client_id: str,
    user_id: str,
    token_url: str,
    private_key_pem: str | bytes,
    certificate_pem: str | bytes | None = None,
    audience: str = SUCCESSFACTORS_AUDIENCE,
    lifetime: dt.timedelta = dt.timedelta(minutes=10),
    now: dt.datetime | None = None,
    name_id_format: str = NAMEID_UNSPECIFIED,
) -> str:
    """Return a signed SAML 2.0 bearer assertion, base64-encoded, for ``/oauth/token``."""
    root = build_assertion_xml(
        client_id=client_id,
        user_id=user_id,
        token_url=token_url,
        audience=audience,
        lifetime=lifetime,
        now=now,
        name_id_format=name_id_format,
    )
    key = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
    signer = XMLSigner(
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    cert = certificate_pem.decode() if isinstance(certificate_pem, bytes) else certificate_pem
    signed = signer.sign(root, key=key, cert=cert, reference_uri=root.get("ID"), id_attribute="ID")
    return base64.b64encode(etree.tostring(signed)).decode("ascii")


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
