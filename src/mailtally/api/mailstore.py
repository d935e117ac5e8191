"""The OMA methods of a mail store, which mailtally is not (SPEC §4).

OMA clients also call methods that read or change the mail itself (messages,
folders, contacts, sieve scripts), a platform's bulletins, brands and
migrations.  mailtally keeps statistics, not mail: these are answered HTTP 404,
error 5, with a sentence that says so — not "unknown method", which would send
an admin looking for a typo.  The names are those of the OpenSRS Email Admin
API as its clients call them (ocolin/OpenSrsMail).
"""

from __future__ import annotations

from mailtally.errors import BAD_REQUEST, OMAError

__all__ = ["MAIL_STORE_METHODS", "mail_store_error"]

MAIL_STORE_METHODS: frozenset[str] = frozenset(
    {
        # messages and folders
        "get_user_messages",
        "move_user_messages",
        "get_deleted_messages",
        "restore_deleted_messages",
        "get_user_folders",
        "reindex",
        "user_notify",
        # contacts
        "get_deleted_contacts",
        "restore_deleted_contacts",
        # sieve scripts
        "get_sieve",
        "set_sieve",
        # bulletins
        "get_company_bulletin",
        "change_company_bulletin",
        "post_company_bulletin",
        "delete_company_bulletin",
        "get_domain_bulletin",
        "change_domain_bulletin",
        "post_domain_bulletin",
        "delete_domain_bulletin",
        # brands
        "search_brands",
        "search_brand_members",
        # migrations from other mail stores
        "migration_add",
        "migration_jobs",
        "migration_status",
        "migration_trace",
        # the mail platform's own logins and hand-over
        "app_password",
        "user_disable_2fa",
        "reset_email_test",
        "push_domain",
    }
)


def mail_store_error(name: str) -> OMAError:
    return OMAError(
        BAD_REQUEST,
        f"'{name}' is a method of a mail store: mailtally keeps statistics of mail, "
        "not mail, so it has no messages, folders, contacts, sieve scripts, bulletins, "
        "brands or migrations to act on",
    )
