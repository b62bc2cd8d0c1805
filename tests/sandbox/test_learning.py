"""Contract tests for the SuccessFactors Learning stand-in (token server, OData v4 services)."""

from __future__ import annotations

import time

ROOT = "/learning/odatav4/public"
COURSES = f"{ROOT}/admin/catalog-service/v1/CatalogsFeed('CORPORATE')/CoursesFeed"


def test_the_token_server_takes_basic_auth_and_a_json_scope(lrn):
    answer = lrn.request_token()
    assert answer.status_code == 200
    assert set(answer.json()) == {"access_token", "expires_in", "token_type"}
    assert lrn.request_token(secret="wrong").status_code == 401


def test_the_catalogue_pages_with_an_odata_next_link(lrn):
    first = lrn.get(COURSES, {"$filter": "criteria/localeID eq 'English'"}).json()
    assert first["@odata.context"].endswith("/catalog-service/v1/$metadata#CoursesFeed")
    items = list(first["value"])
    page = first
    while "@odata.nextLink" in page:
        assert page["@odata.nextLink"].startswith("http://")
        page = lrn.get(page["@odata.nextLink"]).json()
        items.extend(page["value"])
    assert len(items) == len({i["componentID"] for i in items}) > 20
    course = items[0]
    assert {
        "componentID",
        "componentTypeID",
        "title",
        "creditHours",
        "cpeHours",
        "revisionDate",
    } <= set(course)
    assert isinstance(course["revisionDate"], int)


def test_history_needs_a_filter_and_an_admin_names_the_target_user(lrn):
    url = f"{ROOT}/user/userlearning-service/v1/learninghistorys"
    assert lrn.get(url).status_code == 400
    assert lrn.get(url, {"$filter": "criteria/maxNumberToRetrieve eq 10"}).status_code == 400
    history = lrn.history("100060")
    assert history.status_code == 200
    rows = history.json()["value"]
    assert rows and {
        "componentID",
        "completionStatusID",
        "completionDate",
        "grade",
        "creditHours",
        "cpeHours",
        "lastUpdateTimestamp",
    } <= set(rows[0])
    assert all(isinstance(r["completionDate"], int) for r in rows)
    alias = lrn.get(
        f"{ROOT}/user/userlearning-service/v1/LearningHistories",
        {"$filter": "criteria/targetUserID eq '100060'"},
    ).json()["value"]
    assert alias == rows


def test_a_user_token_reads_only_its_own_records(lrn):
    own = lrn.fetch_token(user_type="user", user_id="100061")
    mine = lrn.get(
        f"{ROOT}/user/userlearning-service/v1/learninghistorys",
        {"$filter": "criteria/maxNumberToRetrieve eq 100"},
        token=own,
    )
    assert mine.status_code == 200
    theirs = lrn.get(
        f"{ROOT}/user/userlearning-service/v1/learninghistorys",
        {"$filter": "criteria/targetUserID eq '100062'"},
        token=own,
    )
    assert theirs.status_code == 403


def test_assignments_carry_due_dates_and_certifications_come_back_before_they_expire(sandbox, lrn):
    learners = [str(100000 + i) for i in range(40, 140)]
    retraining_later = 0
    for user in learners:
        items = lrn.todo(user).json()["value"]
        for item in items:
            assert item["requiredDate"] >= item["assignedDate"] and item["isRequired"] is True
    sandbox.set_day(120)
    for user in learners:
        items = lrn.todo(user).json()["value"]
        retraining_later += sum(i["requirementTypeId"] == "RETRAINING" for i in items)
        assert all(isinstance(i["daysRemaining"], int) for i in items)
    assert retraining_later > 0


def test_completions_arrive_as_days_pass(sandbox, lrn):
    learners = [str(100000 + i) for i in range(40, 100)]
    before = {u: len(lrn.history(u).json()["value"]) for u in learners}
    sandbox.set_day(60)
    after = {u: len(lrn.history(u).json()["value"]) for u in learners}
    assert all(after[u] >= before[u] for u in learners)
    assert sum(after.values()) > sum(before.values())


def test_calls_closer_than_the_throttle_interval_get_429_with_retry_after(sandbox, lrn):
    sandbox.configure(learning_min_interval_seconds=0.5)
    time.sleep(0.55)
    assert lrn.history("100060").status_code == 200
    throttled = lrn.history("100060")
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    time.sleep(0.55)
    assert lrn.history("100060").status_code == 200


def test_metadata_documents_each_service(lrn):
    xml = lrn.get(f"{ROOT}/user/learningplan-service/v1/$metadata").text
    assert 'EntitySet Name="UserTodoLearningItems"' in xml and 'Version="4.0"' in xml
