"""The floor: a bare client that fetches and JSON-parses the same pages the loader reads, and
writes them as CSV for ``COPY`` (``python -m benchmarks.floor SOURCE ...``, its own process).

No retries, no contracts, no state: the least any loader must do. It prints one JSON line:
rows per table, requests, bytes, and the seconds spent fetching and parsing (CSV writing is
not counted; ``COPY`` of the files is timed by the caller).
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ingest.sources import salesforce, successfactors

# What the loader selects: the floor asks for the same columns (and nothing else of it).
SALESFORCE_USER_FIELDS = list(salesforce.USER_FIELDS)
EC_USER_FIELDS = list(successfactors.USER_FIELDS)
EC_ORG_UNIT_FIELDS = list(successfactors.ORG_UNIT_FIELDS)
LEARNING_ROOT = "/learning/odatav4/public"
LEARNING_SETS = {
    "learning_assignments": f"{LEARNING_ROOT}/user/learningplan-service/v1/UserTodoLearningItems",
    "learning_completions": f"{LEARNING_ROOT}/user/userlearning-service/v1/learninghistorys",
}
LEARNERS_PER_BATCH = 64
NULL = "\\N"  # COPY ... (format csv, null '\N'): an empty string stays an empty string


@dataclass
class Tally:
    """Requests and bytes fetched, and how long fetching and parsing took."""

    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0


class CsvTables:
    """One CSV file per table, columns fixed by the first rows written."""

    def __init__(self, out_dir: Path, stack: ExitStack) -> None:
        self.out_dir = out_dir
        self.stack = stack
        self.writers: dict[str, Any] = {}
        self.columns: dict[str, list[str]] = {}
        self.rows: dict[str, int] = {}

    def write(self, table: str, rows: list[dict[str, Any]], columns: Sequence[str] = ()) -> None:
        if not rows:
            return
        if table not in self.writers:
            handle = self.stack.enter_context(
                (self.out_dir / f"{table}.csv").open("w", newline="", encoding="utf-8")
            )
            self.writers[table] = csv.writer(handle)
            self.columns[table] = list(columns) or sorted(rows[0])
            self.rows[table] = 0
        self.rows[table] += len(rows)
        names = self.columns[table]
        self.writers[table].writerows(
            [NULL if (v := row.get(name)) is None else _text(v) for name in names] for row in rows
        )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


class Client:
    """A requests session that counts requests and bytes and times fetch + JSON parse."""

    def __init__(self, tally: Tally) -> None:
        self.session = requests.Session()
        self.tally = tally

    def get_json(self, url: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = self.session.get(url, timeout=120, **kwargs)
        response.raise_for_status()
        body = json.loads(response.content)
        self.tally.seconds += time.perf_counter() - started
        self.tally.requests += 1
        self.tally.bytes += len(response.content)
        return body


def salesforce(settings: dict[str, str], tables: CsvTables, tally: Tally) -> None:
    base = settings["instance_url"].rstrip("/")
    token = requests.post(
        f"{base}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": settings["client_id"],
            "client_secret": settings["client_secret"],
        },
        timeout=60,
    ).json()
    client = Client(tally)
    client.session.headers.update(
        {
            "Authorization": f"Bearer {token['access_token']}",
            "Sforce-Query-Options": "batchSize=2000",
        }
    )
    soql = f"SELECT {', '.join(SALESFORCE_USER_FIELDS)} FROM User ORDER BY SystemModstamp, Id"
    page = client.get_json(f"{base}/services/data/v62.0/query", params={"q": soql})
    while True:
        tables.write("salesforce_users", page["records"], SALESFORCE_USER_FIELDS)
        if page["done"]:
            return
        page = client.get_json(base + page["nextRecordsUrl"])


def successfactors(settings: dict[str, str], tables: CsvTables, tally: Tally) -> None:
    # Signing the SAML assertion is authentication, outside the measured pages.
    from ingest.saml import build_signed_assertion

    base = settings["api_url"].rstrip("/")
    assertion = build_signed_assertion(
        client_id=settings["client_id"],
        user_id=settings["user_id"],
        token_url=f"{base}/oauth/token",
        private_key_pem=settings["private_key"],
    )
    token = requests.post(
        f"{base}/oauth/token",
        data={
            "company_id": settings["company_id"],
            "client_id": settings["client_id"],
            "grant_type": "urn:ietf:params:oauth:grant-type:saml2-bearer",
            "assertion": assertion,
        },
        timeout=60,
    ).json()
    client = Client(tally)
    client.session.headers["Authorization"] = f"Bearer {token['access_token']}"
    paging = {"$format": "json", "customPageSize": "1000", "paging": "snapshot"}
    users = {
        **paging,
        "$inlinecount": "allpages",
        "$select": ",".join([*EC_USER_FIELDS, "manager/userId"]),
        "$expand": "manager",
        "$filter": "status in 't','f','T','F','e','d'",
    }
    for rows in _odata_v2_pages(client, f"{base}/odata/v2/User", users):
        for row in rows:
            manager = row.pop("manager", None)
            row["manager_user_id"] = manager.get("userId") if isinstance(manager, dict) else None
        tables.write("successfactors_users", rows, [*EC_USER_FIELDS, "manager_user_id"])
    units = {**paging, "$select": ",".join(EC_ORG_UNIT_FIELDS), "fromDate": "1900-01-01"}
    for rows in _odata_v2_pages(client, f"{base}/odata/v2/FODepartment", units):
        tables.write("successfactors_org_units", rows, EC_ORG_UNIT_FIELDS)


def _odata_v2_pages(client: Client, url: str, params: dict[str, str]) -> Iterator[list[dict]]:
    d = client.get_json(url, params=params)["d"]
    while True:
        yield d["results"]
        if not d.get("__next"):
            return
        d = client.get_json(d["__next"])["d"]


def learning(
    settings: dict[str, str], tables: CsvTables, tally: Tally, learners: list[str], workers: int
) -> None:
    """Each learner's to-do list and history, ``workers`` requests in flight (as the loader)."""
    base = settings["api_url"].rstrip("/")
    pair = base64.b64encode(f"{settings['client_id']}:{settings['client_secret']}".encode())
    token = requests.post(
        f"{base}/learning/oauth-api/rest/v1/token",
        headers={"Authorization": "Basic " + pair.decode()},
        json={
            "grant_type": "client_credentials",
            "scope": {
                "userId": settings["user_id"],
                "companyId": settings["company_id"],
                "userType": "admin",
                "resourceType": "learning_public_api",
            },
        },
        timeout=60,
    ).json()
    fetch_tally = Tally()  # the pool's time is taken whole below, not summed per request
    client = Client(fetch_tally)
    client.session.headers["Authorization"] = f"Bearer {token['access_token']}"
    # A connection per worker, as the loader's pool keeps.
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=workers)
    client.session.mount("http://", adapter)

    def one(user_id: str) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for table, path in LEARNING_SETS.items():
            params = {"$filter": f"criteria/targetUserID eq '{user_id}'"}
            body = client.get_json(f"{base}{path}", params=params)
            rows = list(body["value"])
            while body.get("@odata.nextLink"):
                body = client.get_json(body["@odata.nextLink"])
                rows.extend(body["value"])
            found[table] = [{**row, "targetUserID": user_id} for row in rows]
        return found

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(learners), LEARNERS_PER_BATCH):
            began = time.perf_counter()
            results = list(pool.map(one, learners[start : start + LEARNERS_PER_BATCH]))
            tally.seconds += time.perf_counter() - began
            for found in results:
                for table, rows in found.items():
                    tables.write(table, rows)
    tally.requests, tally.bytes = fetch_tally.requests, fetch_tally.bytes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor")
    parser.add_argument("source", choices=["salesforce", "successfactors", "learning"])
    parser.add_argument("--settings", type=Path, required=True, help="the source's settings")
    parser.add_argument("--out-dir", type=Path, required=True, help="CSV files go here")
    parser.add_argument("--learners", type=Path, help="user ids, one a line (learning)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    settings = json.loads(args.settings.read_text())
    tally = Tally()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        tables = CsvTables(args.out_dir, stack)
        if args.source == "learning":
            learners = args.learners.read_text().split() if args.learners else []
            learning(settings, tables, tally, learners, args.workers)
        elif args.source == "salesforce":
            salesforce(settings, tables, tally)
        else:
            successfactors(settings, tables, tally)
    print(
        json.dumps(
            {
                "rows": tables.rows,
                "requests": tally.requests,
                "bytes": tally.bytes,
                "fetch_parse_seconds": tally.seconds,
                "columns": tables.columns,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
