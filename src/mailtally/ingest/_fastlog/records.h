/* The records of one log line, as C structs: the C twin of
 * mailtally.ingest.parsers' dataclasses (one struct per dataclass, same field
 * names).  The parser (parse.c) fills them; the joiner (join.c) reads them.
 *
 * Strings are slices (fl_str) of UTF-8 text owned by the caller: the line being
 * parsed, or the str objects of a Python record being converted.  They are valid
 * only during the call that hands the record over; whoever keeps one copies it.
 * A slice with p == NULL is Python's None (an empty string is p != NULL, n == 0).
 *
 * Python ints are unbounded; the C fields are int64_t.  A parser that meets a
 * number (or a list) too large for these structs answers FL_FALLBACK for the
 * line, and the line is parsed by the Python parser instead: the two
 * implementations never disagree, the C one just declines.
 */
#ifndef MAILTALLY_FASTLOG_RECORDS_H
#define MAILTALLY_FASTLOG_RECORDS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef struct {
    const char *p; /* NULL: None */
    Py_ssize_t n;  /* bytes */
} fl_str;

#define FL_NONE ((fl_str){NULL, 0})
/* stamps.MAX_DIGITS: a longer run of digits is no number, in both implementations */
#define FL_MAX_DIGITS 640
/* stamps.MAX_MESSAGE_ID: a longer Message-ID makes the line not understood */
#define FL_MAX_MESSAGE_ID 998
/* stamps.MAX_ADDRESS: a longer address (or other name the joiner keeps) makes the
 * line not understood; the fields are parsers._BOUNDED's (parse.c's too_long) */
#define FL_MAX_ADDRESS 320

enum fl_kind {
    FL_SMTPD_CLIENT = 1, /* SmtpdClient */
    FL_PICKUP,           /* Pickup */
    FL_CLEANUP_MSGID,    /* CleanupMessageId */
    FL_QMGR_FROM,        /* QmgrFrom */
    FL_QMGR_REMOVED,     /* QmgrRemoved */
    FL_DELIVERY,         /* Delivery */
    FL_REJECT,           /* Reject */
    FL_DISCARD,          /* Discard */
    FL_MAIL_LOGIN,       /* MailLogin */
    FL_SIEVE,            /* SieveAction */
    FL_WEBMAIL_LOGIN,    /* WebmailLogin */
    FL_SPAM_VERDICT,     /* SpamVerdict */
    FL_REINJECTED,       /* Reinjected */
    FL_FILTER_BLOCKED,   /* FilterBlocked */
    FL_QUOTA_HEADER,     /* QuotaHeader */
    FL_QUOTA_ROW,        /* QuotaRow */
    FL_EXIM_ARRIVAL,     /* EximArrival */
    FL_EXIM_DELIVERY,    /* EximDelivery */
    FL_EXIM_COMPLETED,   /* EximCompleted */
    FL_SPAMD_RESULT,     /* SpamdResult */
};
#define FL_LAST_KIND FL_SPAMD_RESULT

/* Literal-valued fields, as small enums (the Python strings in comments). */
enum fl_service { FL_IMAP4 = 1, FL_POP3 };                          /* MailLogin.service */
enum fl_sieve_action { FL_VACATION = 1, FL_REDIRECT, FL_FILEINTO, FL_SIEVE_REJECT }; /* SieveAction.action */
enum fl_verdict { FL_SPAM = 1, FL_HAM, FL_REJECT_VERDICT, FL_TEMPFAIL }; /* SpamVerdict.verdict:
                                                 "spam", "ham", "reject", "tempfail" */
enum fl_quota_kind { FL_STORAGE = 1, FL_MESSAGE };                  /* QuotaRow.kind */

/* FilterBlocked's tuples hold at most this many items in C (else FL_FALLBACK). */
#define FL_MAX_LIST 32

typedef struct {
    fl_str qid, client_ip;
    int64_t client_port; /* -1: None */
    fl_str sasl_username, orig_qid;
} fl_smtpd_client;

typedef struct {
    fl_str qid;
    int64_t uid;
    fl_str sender;
} fl_pickup;

typedef struct {
    fl_str qid, message_id;
} fl_cleanup_msgid;

typedef struct {
    fl_str qid, sender;
    int64_t size, nrcpt;
} fl_qmgr_from;

typedef struct {
    fl_str qid;
} fl_qid_only; /* QmgrRemoved, Discard */

typedef struct {
    fl_str qid, to, orig_to, relay, status, service, response, queued_as, forwarded_as;
} fl_delivery;

typedef struct {
    fl_str qid, stage, recipient;
    int permanent, milter; /* 0/1 */
} fl_reject;

typedef struct {
    fl_str user, rip;
    int service; /* enum fl_service */
} fl_mail_login;

typedef struct {
    fl_str user;
    int action; /* enum fl_sieve_action */
    fl_str target, msgid, session;
} fl_sieve;

typedef struct {
    fl_str user, ip;
} fl_webmail_login;

typedef struct {
    fl_str qid;
    int verdict;   /* enum fl_verdict */
    fl_str source; /* "rspamd" / "amavis" */
} fl_spam_verdict;

typedef struct {
    fl_str qid, new_qid;
} fl_reinjected;

typedef struct {
    fl_str qid; /* may be None */
    int n_recipients;
    fl_str recipients[FL_MAX_LIST];
    fl_str category;
    int n_flags;
    fl_str flags[FL_MAX_LIST];
} fl_filter_blocked;

typedef struct {
    fl_str user, root;
    int kind; /* enum fl_quota_kind */
    int64_t value;
} fl_quota_row;

typedef struct {
    /* client_ip, auth, local_user: may be None */
    fl_str qid, sender, client_ip, auth, message_id, local_user;
    int64_t size;
    int n_recipients; /* -1: None (not logged) */
    fl_str recipients[FL_MAX_LIST];
} fl_exim_arrival;

/* EximDelivery.kind: "=>", "->", "*>", ">>", "**" */
enum fl_exim_kind { FL_EX_DELIVERED = 1, FL_EX_MORE, FL_EX_FAKE, FL_EX_CUTTHROUGH, FL_EX_FAILED };

typedef struct {
    fl_str qid;
    int kind; /* enum fl_exim_kind */
    fl_str to, orig, router, transport, ip; /* orig: may be None */
} fl_exim_delivery;

typedef struct {
    fl_str message_id;
    int spam; /* SpamdResult.verdict: 1 "spam", 0 "ham" */
} fl_spamd_result;

typedef struct {
    int kind; /* enum fl_kind */
    union {
        fl_smtpd_client smtpd_client;
        fl_pickup pickup;
        fl_cleanup_msgid cleanup;
        fl_qmgr_from qmgr_from;
        fl_qid_only qid_only;
        fl_delivery delivery;
        fl_reject reject;
        fl_mail_login mail_login;
        fl_sieve sieve;
        fl_webmail_login webmail_login;
        fl_spam_verdict spam_verdict;
        fl_reinjected reinjected;
        fl_filter_blocked filter_blocked;
        fl_quota_row quota_row;
        fl_exim_arrival exim_arrival;
        fl_exim_delivery exim_delivery;
        fl_qid_only exim_completed;
        fl_spamd_result spamd_result;
    } u;
} fl_record;

/* What one line said: the C twin of ParseResult. */
enum fl_status {
    FL_OK = 1,       /* understood, records[0..n_records) and time */
    FL_IGNORED,      /* understood, nothing to count */
    FL_UNKNOWN,      /* not understood; program says who wrote it */
    FL_FALLBACK,     /* the C parser declines: parse this line with the Python parser */
};

#define FL_MAX_RECORDS 16

/* parsers.MAX_HOST: a longer syslog host makes the line not understood */
#define FL_MAX_HOST 253

typedef struct {
    int status;      /* enum fl_status */
    fl_str program;  /* as ParseResult.program ("" when no header) */
    fl_str family;   /* as ParseResult.family (parsers.families): FL_UNKNOWN, else empty */
    fl_str host;     /* as ParseResult.host: lower case, "" (p != NULL) when none */
    char host_lower[FL_MAX_HOST]; /* where host points when the line's was not lower case */
    int tally;       /* FL_IGNORED, tallied by program in the report (parsers.tallied) */
    int64_t time;    /* UTC epoch seconds, for FL_OK */
    int n_records;
    fl_record records[FL_MAX_RECORDS];
} fl_result;

#endif
