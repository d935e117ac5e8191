"""The driver script tests/clients/oma_client_flow.py, run as part of the suite:
an OMA client's session replayed call by call on a fresh store (issue 10)."""

from __future__ import annotations

from clients import oma_client_flow


def test_an_oma_client_session(tmp_path):
    client = oma_client_flow.run(tmp_path)  # asserts every answer on the way
    methods = [path.rsplit("/", 1)[-1] for path, _ in client.sent]
    # one password login, then the token; the calls in a client's order
    assert methods[:3] == ["authenticate", "authenticate", "search_domains"]
    steps = ["search_users", "change_user", "delete_user", "restore_user", "rename_user"]
    assert [methods.index(m) for m in steps] == sorted(methods.index(m) for m in steps)
    assert methods.index("rename_user") < len(methods) - methods[::-1].index("stats_summary")
