"""SAML 2.0 bearer assertions for the SuccessFactors OAuth SAML-bearer flow.

SAP's ``/oauth/idp`` endpoint that signs assertions server-side is deprecated, so the
client signs its own assertion with the private key whose certificate is registered for
the OAuth client (Admin Center > Manage OAuth2 Client Applications). The shape follows
SAP's sample assertion: Issuer = client id (the API key), Subject NameID = the API user,
a bearer SubjectConfirmation whose Recipient is the token URL, Audience
``www.successfactors.com``, an AuthnStatement and an ``api_key`` attribute.

The signature is enveloped XML-DSig, RSA-SHA256 over SHA-256 digests with exclusive
canonicalisation, placed right after ``Issuer`` as the SAML schema requires. Checking
an assertion is the token server's job: the sandbox's stands in for it
(``ingest/sandbox/saml.py``).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
SUCCESSFACTORS_AUDIENCE = "www.successfactors.com"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
BEARER_METHOD = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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
