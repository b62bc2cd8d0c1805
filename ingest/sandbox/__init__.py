"""A local stand-in for Salesforce and SAP SuccessFactors (EC and Learning) over HTTP."""

from ingest.sandbox.faults import Faults
from ingest.sandbox.sandbox import Sandbox, serve_forever

__all__ = ["Faults", "Sandbox", "serve_forever"]
