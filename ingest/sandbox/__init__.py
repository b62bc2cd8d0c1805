"""A local stand-in for Salesforce and SAP SuccessFactors (EC and Learning) over HTTP."""

from ingest.sandbox.faults import Faults
from ingest.sandbox.sandbox import Sandbox, serve_forever
from ingest.sandbox.shape import TenantShape

__all__ = ["Faults", "Sandbox", "TenantShape", "serve_forever"]
