"""The OMA methods of a mail store (SPEC §4): HTTP 404, error 5, and a sentence
that says mailtally keeps statistics, not mail — not "unknown method"."""

from __future__ import annotations

import pytest

from conftest import OPERATOR_CREDS
from mailtally.api.app import METHODS
from mailtally.api.mailstore import MAIL_STORE_METHODS

#: the families SPEC §4 names, each with a name OMA clients call
FAMILIES = {
    "messages": "get_user_messages",
    "folders": "get_user_folders",
    "contacts": "get_deleted_contacts",
    "sieve": "set_sieve",
    "bulletins": "post_domain_bulletin",
    "migrations": "migration_add",
    "brands": "search_brands",
    "reindex": "reindex",
    "user_notify": "user_notify",
    "app_password": "app_password",
    "push_domain": "push_domain",
}


def test_every_family_is_there_and_none_is_a_method():
    assert set(FAMILIES.values()) <= MAIL_STORE_METHODS
    assert not MAIL_STORE_METHODS & set(METHODS)


@pytest.mark.parametrize("name", sorted(MAIL_STORE_METHODS))
def test_answered_404_error_5_with_the_sentence(platform, client, name):
    for path in (f"/api/{name}", f"/{name}"):
        r = client.post(path, json={"credentials": OPERATOR_CREDS, "user": "bob@acme.com"})
        assert r.status_code == 404
        body = r.json()
        assert body["success"] is False and body["error_number"] == 5
        assert "keeps statistics of mail, not mail" in body["error"]
        assert name in body["error"] and "unknown method" not in body["error"]


def test_an_unknown_method_is_still_unknown(platform, client):
    body = client.post("/api/get_user_mesages", json={}).json()
    assert body["error"] == "unknown method 'get_user_mesages'"
