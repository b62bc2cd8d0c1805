"""Thin clients of the sandbox's three APIs, speaking their wire formats as a caller would."""

from __future__ import annotations

from typing import Any

import requests

from ingest.saml import build_signed_assertion
from ingest.sandbox import Sandbox

SF_VERSION = "v62.0"
SAML_GRANT = "urn:ietf:params:oauth:grant-type:saml2-bearer"


class SalesforceClient:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.config = sandbox.source_config()["salesforce"]
        self.token = self.fetch_token()

    def fetch_token(self) -> str:
        answer = requests.post(
            f"{self.config['instance_url']}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.config["client_id"],
                "client_secret": self.config["client_secret"],
            },
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.send("GET", path, **kwargs)

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        url = f"{self.sandbox.base_url}{path}"
        return requests.request(method, url, headers=headers, timeout=30, **kwargs)

    def query(self, soql: str, **kwargs: Any) -> requests.Response:
        return self.get(f"/services/data/{SF_VERSION}/query", params={"q": soql}, **kwargs)

    def query_all_pages(self, soql: str, **kwargs: Any) -> list[dict[str, Any]]:
        page = self.query(soql, **kwargs).json()
        records = list(page["records"])
        while not page["done"]:
            page = self.get(page["nextRecordsUrl"]).json()
            records.extend(page["records"])
        return records


class SuccessFactorsClient:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.config = sandbox.source_config()["successfactors"]
        self.token = self.fetch_token()

    def assertion(self, **overrides: Any) -> str:
        args = {
            "client_id": self.config["client_id"],
            "user_id": self.config["user_id"],
            "token_url": f"{self.config['api_url']}/oauth/token",
            "private_key_pem": self.config["private_key"],
            **overrides,
        }
        return build_signed_assertion(**args)

    def request_token(self, assertion: str, **form: str) -> requests.Response:
        data = {
            "company_id": self.config["company_id"],
            "client_id": self.config["client_id"],
            "grant_type": SAML_GRANT,
            "assertion": assertion,
            **form,
        }
        return requests.post(f"{self.config['api_url']}/oauth/token", data=data, timeout=10)

    def fetch_token(self) -> str:
        answer = self.request_token(self.assertion())
        answer.raise_for_status()
        return answer.json()["access_token"]

    def get(self, path_or_url: str, params: dict[str, str] | None = None) -> requests.Response:
        url = path_or_url if "://" in path_or_url else f"{self.sandbox.base_url}{path_or_url}"
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.get(url, params=params, headers=headers, timeout=30)

    def users(self, **params: str) -> list[dict[str, Any]]:
        page = self.get("/odata/v2/User", {"$format": "json", **params}).json()["d"]
        rows = list(page["results"])
        while "__next" in page:
            page = self.get(page["__next"]).json()["d"]
            rows.extend(page["results"])
        return rows


class LearningClient:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.config = sandbox.source_config()["successfactors_learning"]
        self.token = self.fetch_token()

    def request_token(
        self, user_type: str = "admin", user_id: str | None = None, secret: str | None = None
    ) -> requests.Response:
        body = {
            "grant_type": "client_credentials",
            "scope": {
                "userId": user_id or self.config["user_id"],
                "companyId": self.config["company_id"],
                "userType": user_type,
                "resourceType": "learning_public_api",
            },
        }
        auth = (self.config["client_id"], secret or self.config["client_secret"])
        url = f"{self.config['api_url']}/learning/oauth-api/rest/v1/token"
        return requests.post(url, json=body, auth=auth, timeout=10)

    def fetch_token(self, **kwargs: Any) -> str:
        answer = self.request_token(**kwargs)
        answer.raise_for_status()
        return answer.json()["access_token"]

    def get(
        self, path_or_url: str, params: dict[str, str] | None = None, token: str | None = None
    ) -> requests.Response:
        url = path_or_url if "://" in path_or_url else f"{self.sandbox.base_url}{path_or_url}"
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return requests.get(url, params=params, headers=headers, timeout=30)

    def history(self, user_id: str) -> requests.Response:
        return self.get(
            "/learning/odatav4/public/user/userlearning-service/v1/learninghistorys",
            {"$filter": f"criteria/targetUserID eq '{user_id}'"},
        )

    def todo(self, user_id: str) -> requests.Response:
        return self.get(
            "/learning/odatav4/public/user/learningplan-service/v1/UserTodoLearningItems",
            {"$filter": f"criteria/targetUserID eq '{user_id}' and criteria/maxRowNum eq 500"},
        )
