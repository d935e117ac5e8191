/* Part of the C twin of mailtally.ingest.join (the Python module is the
 * reference): Python records (mailtally.ingest.parsers' dataclasses) -> fl_record,
 * for Joiner.feed(ParseResult), Joiner.add(record, t) and fl_join_feed_py.
 *
 * The records are frozen, slotted dataclasses: their fields are read straight from
 * the slots (the member descriptors' offsets, found once), and only records whose
 * type is exactly one of the classes are handled — the reference looks handlers up
 * by type(rec) too.
 *
 * Types.  Fields declared `str` must be str, `str | None` str or None, ints int
 * (any size: the ones past int64 travel in jside), bools anything (truth value);
 * the Literal fields are compared as the reference compares them.  A record that
 * breaks these rules (only a hand-made one can) raises TypeError in its handler,
 * which the joiner counts as an error, where the reference may have got further.
 *
 * Strings are passed as UTF-8 slices of the str objects (valid while the record
 * lives); a str holding lone surrogates cannot be encoded so, and is encoded with
 * "surrogatepass" into a bytes object kept until the record is handled.
 */
#include "join.h"
#include <structmember.h>

/* The record classes, by enum fl_kind; and ParseResult. */
static PyObject *kinds[FL_LAST_KIND + 1];
static PyObject *cls_parse_result;
static PyObject *str_ok, *str_ignored, *str_unknown;

#define MAXF 9
/* field names of each class, in the order read below */
static const char *const field_names[FL_LAST_KIND + 1][MAXF] = {
    [FL_SMTPD_CLIENT] = {"qid", "client_ip", "sasl_username", "orig_qid"},
    [FL_PICKUP] = {"qid", "uid", "sender"},
    [FL_CLEANUP_MSGID] = {"qid", "message_id"},
    [FL_QMGR_FROM] = {"qid", "size", "nrcpt"},
    [FL_QMGR_REMOVED] = {"qid"},
    [FL_DELIVERY] = {"qid", "to", "orig_to", "relay", "status", "service", "response", "queued_as",
                     "forwarded_as"},
    [FL_REJECT] = {"qid", "stage", "recipient", "permanent", "milter"},
    [FL_DISCARD] = {"qid"},
    [FL_MAIL_LOGIN] = {"user", "rip", "service"},
    [FL_SIEVE] = {"user", "action", "target", "msgid", "session"},
    [FL_WEBMAIL_LOGIN] = {"user"},
    [FL_SPAM_VERDICT] = {"qid", "verdict"},
    [FL_REINJECTED] = {"qid", "new_qid"},
    [FL_FILTER_BLOCKED] = {"qid", "recipients", "category", "flags"},
    [FL_QUOTA_HEADER] = {NULL},
    [FL_QUOTA_ROW] = {"user", "root", "kind", "value"},
    [FL_EXIM_ARRIVAL] = {"qid", "sender", "client_ip", "auth", "size", "message_id", "recipients",
                         "local_user"},
    [FL_EXIM_DELIVERY] = {"qid", "kind", "to", "orig", "router", "transport", "ip"},
    [FL_EXIM_COMPLETED] = {"qid"},
    [FL_SPAMD_RESULT] = {"message_id", "verdict"},
};
static const char *const class_names[FL_LAST_KIND + 1] = {
    [FL_SMTPD_CLIENT] = "SmtpdClient", [FL_PICKUP] = "Pickup",
    [FL_CLEANUP_MSGID] = "CleanupMessageId", [FL_QMGR_FROM] = "QmgrFrom",
    [FL_QMGR_REMOVED] = "QmgrRemoved", [FL_DELIVERY] = "Delivery",
    [FL_REJECT] = "Reject", [FL_DISCARD] = "Discard",
    [FL_MAIL_LOGIN] = "MailLogin", [FL_SIEVE] = "SieveAction",
    [FL_WEBMAIL_LOGIN] = "WebmailLogin", [FL_SPAM_VERDICT] = "SpamVerdict",
    [FL_REINJECTED] = "Reinjected", [FL_FILTER_BLOCKED] = "FilterBlocked",
    [FL_QUOTA_HEADER] = "QuotaHeader", [FL_QUOTA_ROW] = "QuotaRow",
    [FL_EXIM_ARRIVAL] = "EximArrival", [FL_EXIM_DELIVERY] = "EximDelivery",
    [FL_EXIM_COMPLETED] = "EximCompleted", [FL_SPAMD_RESULT] = "SpamdResult",
};
static Py_ssize_t offsets[FL_LAST_KIND + 1][MAXF];
static Py_ssize_t pr_offsets[4]; /* ParseResult: status, time, records, host */

/* The offset of slot `name` of class cls (a member descriptor of an object field). */
static int slot_offset(PyObject *cls, const char *name, Py_ssize_t *off) {
    PyObject *d = PyDict_GetItemString(((PyTypeObject *)cls)->tp_dict, name);
    if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type) ||
        ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", _PyType_Name((PyTypeObject *)cls),
                     name);
        return -1;
    }
    *off = ((PyMemberDescrObject *)d)->d_member->offset;
    return 0;
}

int join_py_init(void) {
    if (cls_parse_result != NULL)
        return 0;
    PyObject *mod = PyImport_ImportModule("mailtally.ingest.parsers");
    if (mod == NULL)
        return -1;
    for (int k = FL_SMTPD_CLIENT; k <= FL_LAST_KIND; k++) {
        PyObject *c = PyObject_GetAttrString(mod, class_names[k]);
        if (c == NULL)
            goto fail;
        Py_XSETREF(kinds[k], c);
        if (!PyType_Check(c)) {
            PyErr_Format(PyExc_TypeError, "%s is not a class", class_names[k]);
            goto fail;
        }
        for (int i = 0; i < MAXF && field_names[k][i] != NULL; i++)
            if (slot_offset(c, field_names[k][i], &offsets[k][i]) < 0)
                goto fail;
    }
    PyObject *pr = PyObject_GetAttrString(mod, "ParseResult");
    if (pr == NULL || !PyType_Check(pr) || slot_offset(pr, "status", &pr_offsets[0]) < 0 ||
        slot_offset(pr, "time", &pr_offsets[1]) < 0 ||
        slot_offset(pr, "records", &pr_offsets[2]) < 0 || slot_offset(pr, "host", &pr_offsets[3]) < 0) {
        if (pr != NULL && !PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "ParseResult is not a class");
        Py_XDECREF(pr);
        goto fail;
    }
    str_ok = PyUnicode_InternFromString("ok");
    str_ignored = PyUnicode_InternFromString("ignored");
    str_unknown = PyUnicode_InternFromString("unknown");
    if (!str_ok || !str_ignored || !str_unknown) {
        Py_DECREF(pr);
        goto fail;
    }
    Py_DECREF(mod);
    cls_parse_result = pr;
    return 0;
fail:
    Py_DECREF(mod);
    return -1;
}

int join_py_kind(PyObject *rec) {
    PyObject *t = (PyObject *)Py_TYPE(rec);
    /* the most frequent first */
    static const int order[] = {FL_DELIVERY, FL_QMGR_FROM, FL_QMGR_REMOVED, FL_SMTPD_CLIENT,
                                FL_CLEANUP_MSGID, FL_MAIL_LOGIN, FL_SIEVE, FL_SPAM_VERDICT,
                                FL_WEBMAIL_LOGIN, FL_PICKUP, FL_REJECT, FL_DISCARD,
                                FL_REINJECTED, FL_FILTER_BLOCKED, FL_QUOTA_ROW, FL_QUOTA_HEADER,
                                FL_EXIM_DELIVERY, FL_EXIM_ARRIVAL, FL_EXIM_COMPLETED,
                                FL_SPAMD_RESULT};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (kinds[order[i]] == t)
            return order[i];
    return 0;
}

/* slot i of rec (borrowed); NULL with AttributeError if unset */
static PyObject *slot(PyObject *rec, Py_ssize_t off, const char *name) {
    PyObject *v = *(PyObject **)((char *)rec + off);
    if (v == NULL)
        PyErr_Format(PyExc_AttributeError, "record has no %s", name);
    return v;
}

/* Temporaries of one conversion: surrogatepass encodings, long lists. */
typedef struct {
    PyObject *keep;   /* list, or NULL */
    fl_str *heap[2];  /* FilterBlocked's recipients and flags past FL_MAX_LIST */
    int nheap;
} jconv;

static int conv_str(PyObject *o, fl_str *out, int opt, jconv *cv, const char *name) {
    if (o == Py_None && opt) {
        *out = FL_NONE;
        return 0;
    }
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "record field %s: str expected, not %.80s", name,
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    if (PyUnicode_IS_COMPACT_ASCII(o)) {
        *out = (fl_str){(const char *)PyUnicode_DATA(o), PyUnicode_GET_LENGTH(o)};
        return 0;
    }
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(o, &n); /* cached in the str */
    if (p != NULL) {
        *out = (fl_str){p, n};
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return -1;
    PyErr_Clear(); /* lone surrogates */
    PyObject *b = PyUnicode_AsEncodedString(o, "utf-8", "surrogatepass");
    if (b == NULL)
        return -1;
    if (cv->keep == NULL && (cv->keep = PyList_New(0)) == NULL) {
        Py_DECREF(b);
        return -1;
    }
    int rc = PyList_Append(cv->keep, b);
    Py_DECREF(b);
    if (rc < 0)
        return -1;
    *out = (fl_str){PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b)};
    return 0;
}

static int conv_int(PyObject *o, int64_t *out, PyObject **big, const char *name) {
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "record field %s: int expected, not %.80s", name,
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = overflow ? 0 : v;
    *big = overflow ? o : NULL; /* borrowed: the record keeps it alive */
    return 0;
}

static int eq_lit(PyObject *o, const char *lit) {
    return PyUnicode_Check(o) && PyUnicode_CompareWithASCIIString(o, lit) == 0;
}

/* A tuple (any iterable) of str -> slices, in dst when they fit, else in an array
 * of the temporaries (*longp). */
static int conv_list(PyObject *o, fl_str *dst, int *n, const fl_str **longp, jconv *cv,
                     const char *name) {
    PyObject *seq = PySequence_Fast(o, "FilterBlocked lists must be iterable");
    if (seq == NULL)
        return -1;
    /* a list PySequence_Fast built from another iterable owns the items: keep it */
    if (seq != o && ((cv->keep == NULL && (cv->keep = PyList_New(0)) == NULL) ||
                     PyList_Append(cv->keep, seq) < 0)) {
        Py_DECREF(seq);
        return -1;
    }
    Py_DECREF(seq); /* alive: o is it, or cv->keep holds it */
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    fl_str *to = dst;
    *longp = NULL;
    if (len > INT_MAX / 2) {
        PyErr_SetString(PyExc_OverflowError, "list too long");
        return -1;
    }
    if (len > FL_MAX_LIST) {
        to = malloc(sizeof(fl_str) * (size_t)len);
        if (to == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        cv->heap[cv->nheap++] = to;
        *longp = to;
    }
    for (Py_ssize_t i = 0; i < len; i++)
        if (conv_str(PySequence_Fast_GET_ITEM(seq, i), &to[i], 0, cv, name) < 0)
            return -1;
    *n = (int)len;
    return 0;
}

#define F(i) (v[i])
static int convert(PyObject *rec, int kind, fl_record *r, jside *side, jconv *cv) {
    PyObject *v[MAXF];
    for (int i = 0; i < MAXF && field_names[kind][i] != NULL; i++)
        if ((v[i] = slot(rec, offsets[kind][i], field_names[kind][i])) == NULL)
            return -1;
    r->kind = kind;
    switch (kind) {
    case FL_SMTPD_CLIENT: {
        fl_smtpd_client *s = &r->u.smtpd_client;
        s->client_port = -1; /* not used by the joiner */
        return conv_str(F(0), &s->qid, 0, cv, "qid") || conv_str(F(1), &s->client_ip, 0, cv, "client_ip") ||
                       conv_str(F(2), &s->sasl_username, 1, cv, "sasl_username") ||
                       conv_str(F(3), &s->orig_qid, 1, cv, "orig_qid")
                   ? -1
                   : 0;
    }
    case FL_PICKUP: {
        fl_pickup *s = &r->u.pickup;
        return conv_str(F(0), &s->qid, 0, cv, "qid") || conv_int(F(1), &s->uid, &side->big[0], "uid") ||
                       conv_str(F(2), &s->sender, 0, cv, "sender")
                   ? -1
                   : 0;
    }
    case FL_CLEANUP_MSGID:
        return conv_str(F(0), &r->u.cleanup.qid, 0, cv, "qid") ||
                       conv_str(F(1), &r->u.cleanup.message_id, 0, cv, "message_id")
                   ? -1
                   : 0;
    case FL_QMGR_FROM: {
        fl_qmgr_from *s = &r->u.qmgr_from;
        s->sender = FL_NONE; /* not used by the joiner */
        return conv_str(F(0), &s->qid, 0, cv, "qid") || conv_int(F(1), &s->size, &side->big[0], "size") ||
                       conv_int(F(2), &s->nrcpt, &side->big[1], "nrcpt")
                   ? -1
                   : 0;
    }
    case FL_QMGR_REMOVED:
    case FL_DISCARD:
        return conv_str(F(0), &r->u.qid_only.qid, 0, cv, "qid");
    case FL_DELIVERY: {
        fl_delivery *d = &r->u.delivery;
        return conv_str(F(0), &d->qid, 0, cv, "qid") || conv_str(F(1), &d->to, 0, cv, "to") ||
                       conv_str(F(2), &d->orig_to, 1, cv, "orig_to") ||
                       conv_str(F(3), &d->relay, 0, cv, "relay") ||
                       conv_str(F(4), &d->status, 0, cv, "status") ||
                       conv_str(F(5), &d->service, 0, cv, "service") ||
                       conv_str(F(6), &d->response, 0, cv, "response") ||
                       conv_str(F(7), &d->queued_as, 1, cv, "queued_as") ||
                       conv_str(F(8), &d->forwarded_as, 1, cv, "forwarded_as")
                   ? -1
                   : 0;
    }
    case FL_REJECT: {
        fl_reject *s = &r->u.reject;
        if (conv_str(F(0), &s->qid, 1, cv, "qid") || conv_str(F(1), &s->stage, 0, cv, "stage") ||
            conv_str(F(2), &s->recipient, 1, cv, "recipient"))
            return -1;
        if ((s->permanent = PyObject_IsTrue(F(3))) < 0 || (s->milter = PyObject_IsTrue(F(4))) < 0)
            return -1;
        return 0;
    }
    case FL_MAIL_LOGIN: {
        fl_mail_login *s = &r->u.mail_login;
        if (conv_str(F(0), &s->user, 0, cv, "user") || conv_str(F(1), &s->rip, 0, cv, "rip"))
            return -1;
        s->service = eq_lit(F(2), "imap4") ? FL_IMAP4 : eq_lit(F(2), "pop3") ? FL_POP3 : 0;
        if (s->service == 0)
            side->service = F(2); /* emitted as given */
        return 0;
    }
    case FL_SIEVE: {
        fl_sieve *s = &r->u.sieve;
        s->action = eq_lit(F(1), "vacation")   ? FL_VACATION
                    : eq_lit(F(1), "redirect") ? FL_REDIRECT
                    : eq_lit(F(1), "reject")   ? FL_SIEVE_REJECT
                                               : FL_FILEINTO; /* the reference's else branch */
        return conv_str(F(0), &s->user, 0, cv, "user") || conv_str(F(2), &s->target, 0, cv, "target") ||
                       conv_str(F(3), &s->msgid, 0, cv, "msgid") ||
                       conv_str(F(4), &s->session, 0, cv, "session")
                   ? -1
                   : 0;
    }
    case FL_WEBMAIL_LOGIN:
        r->u.webmail_login.ip = FL_NONE;
        return conv_str(F(0), &r->u.webmail_login.user, 0, cv, "user");
    case FL_SPAM_VERDICT: {
        fl_spam_verdict *s = &r->u.spam_verdict;
        s->source = FL_NONE;
        /* verdict == "tempfail" returns; in ("spam", "reject") is spam; else ham */
        s->verdict = eq_lit(F(1), "tempfail") ? FL_TEMPFAIL
                     : eq_lit(F(1), "spam")   ? FL_SPAM
                     : eq_lit(F(1), "reject") ? FL_REJECT_VERDICT
                                              : FL_HAM;
        return conv_str(F(0), &s->qid, 0, cv, "qid");
    }
    case FL_REINJECTED:
        return conv_str(F(0), &r->u.reinjected.qid, 0, cv, "qid") ||
                       conv_str(F(1), &r->u.reinjected.new_qid, 0, cv, "new_qid")
                   ? -1
                   : 0;
    case FL_FILTER_BLOCKED: {
        fl_filter_blocked *b = &r->u.filter_blocked;
        const fl_str *lr = NULL, *lf = NULL;
        if (conv_str(F(0), &b->qid, 1, cv, "qid") || conv_str(F(2), &b->category, 0, cv, "category"))
            return -1;
        if (conv_list(F(1), b->recipients, &b->n_recipients, &lr, cv, "recipients") < 0 ||
            conv_list(F(3), b->flags, &b->n_flags, &lf, cv, "flags") < 0)
            return -1;
        if (lr != NULL || lf != NULL) { /* the handler reads both lists from side */
            side->rcpts = lr != NULL ? lr : b->recipients;
            side->n_rcpts = b->n_recipients;
            side->flags = lf != NULL ? lf : b->flags;
            side->n_flags = b->n_flags;
        }
        return 0;
    }
    case FL_QUOTA_HEADER:
        return 0;
    case FL_EXIM_ARRIVAL: {
        fl_exim_arrival *a = &r->u.exim_arrival;
        if (conv_str(F(0), &a->qid, 0, cv, "qid") || conv_str(F(1), &a->sender, 0, cv, "sender") ||
            conv_str(F(2), &a->client_ip, 1, cv, "client_ip") ||
            conv_str(F(3), &a->auth, 1, cv, "auth") ||
            conv_int(F(4), &a->size, &side->big[0], "size") ||
            conv_str(F(5), &a->message_id, 0, cv, "message_id") ||
            conv_str(F(7), &a->local_user, 1, cv, "local_user"))
            return -1;
        a->n_recipients = -1;
        if (F(6) != Py_None) {
            const fl_str *lr = NULL;
            if (conv_list(F(6), a->recipients, &a->n_recipients, &lr, cv, "recipients") < 0)
                return -1;
            if (lr != NULL) { /* the handler reads a long list from side */
                side->rcpts = lr;
                side->n_rcpts = a->n_recipients;
            }
        }
        return 0;
    }
    case FL_EXIM_DELIVERY: {
        fl_exim_delivery *d = &r->u.exim_delivery;
        /* the reference tests "*>", "**", and "=>" / "->" (an autoreply's delivery);
         * any other marker is a delivery of another kind (">>": cutthrough) */
        d->kind = eq_lit(F(1), "*>")   ? FL_EX_FAKE
                  : eq_lit(F(1), "**") ? FL_EX_FAILED
                  : eq_lit(F(1), "=>") ? FL_EX_DELIVERED
                  : eq_lit(F(1), "->") ? FL_EX_MORE
                                       : FL_EX_CUTTHROUGH;
        return conv_str(F(0), &d->qid, 0, cv, "qid") || conv_str(F(2), &d->to, 0, cv, "to") ||
                       conv_str(F(3), &d->orig, 1, cv, "orig") ||
                       conv_str(F(4), &d->router, 0, cv, "router") ||
                       conv_str(F(5), &d->transport, 0, cv, "transport") ||
                       conv_str(F(6), &d->ip, 0, cv, "ip")
                   ? -1
                   : 0;
    }
    case FL_EXIM_COMPLETED:
        return conv_str(F(0), &r->u.exim_completed.qid, 0, cv, "qid");
    case FL_SPAMD_RESULT:
        r->u.spamd_result.spam = eq_lit(F(1), "spam");
        return conv_str(F(0), &r->u.spamd_result.message_id, 0, cv, "message_id");
    case FL_QUOTA_ROW: {
        fl_quota_row *s = &r->u.quota_row;
        s->kind = eq_lit(F(2), "STORAGE") ? FL_STORAGE : FL_MESSAGE;
        return conv_str(F(0), &s->user, 0, cv, "user") || conv_str(F(1), &s->root, 0, cv, "root") ||
                       conv_int(F(3), &s->value, &side->big[0], "value")
                   ? -1
                   : 0;
    }
    }
    return 0;
}
#undef F

int join_py_handle(Joiner *j, PyObject *rec, int kind, int64_t t) {
    fl_record r;
    jside side;
    jconv cv = {NULL, {NULL, NULL}, 0};
    memset(&side, 0, sizeof side);
    int rc = convert(rec, kind, &r, &side, &cv);
    if (rc == 0)
        rc = join_handle(j, &r, &side, t);
    free(cv.heap[0]);
    free(cv.heap[1]);
    Py_XDECREF(cv.keep);
    return rc;
}

int join_py_result(PyObject *res, PyObject **status, PyObject **time, PyObject **records) {
    *status = *time = *records = NULL;
    if (Py_TYPE(res) == (PyTypeObject *)cls_parse_result) {
        PyObject *s = slot(res, pr_offsets[0], "status");
        PyObject *t = s ? slot(res, pr_offsets[1], "time") : NULL;
        PyObject *r = t ? slot(res, pr_offsets[2], "records") : NULL;
        if (r == NULL)
            return -1;
        *status = Py_NewRef(s);
        *time = Py_NewRef(t);
        *records = Py_NewRef(r);
        return 0;
    }
    /* another object with the same attributes (duck typing, as the reference): time
     * and records are read by the caller, only for an ok status, as feed() does */
    if ((*status = PyObject_GetAttrString(res, "status")) == NULL)
        return -1;
    return 0;
}

int join_py_host(PyObject *res, PyObject **keep, fl_str *host) {
    *keep = NULL;
    *host = (fl_str){"", 0};
    PyObject *h;
    if (Py_TYPE(res) == (PyTypeObject *)cls_parse_result) {
        if ((h = slot(res, pr_offsets[3], "host")) == NULL)
            return -1;
        Py_INCREF(h);
    } else if ((h = PyObject_GetAttrString(res, "host")) == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return -1;
        PyErr_Clear(); /* getattr(result, "host", "") */
        return 0;
    }
    if (!PyUnicode_Check(h)) {
        Py_DECREF(h);
        return 0;
    }
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(h, &n);
    if (p == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            Py_DECREF(h);
            return -1;
        }
        PyErr_Clear();
        PyObject *b = PyUnicode_AsEncodedString(h, "utf-8", "surrogatepass");
        Py_DECREF(h);
        if (b == NULL)
            return -1;
        *keep = b;
        *host = (fl_str){PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b)};
        return 0;
    }
    *keep = h;
    *host = (fl_str){p, n};
    return 0;
}

/* The status of a ParseResult: FL_OK, FL_IGNORED, FL_UNKNOWN, or 0 (none of them) */
int join_py_status(PyObject *status) {
    if (status == str_ok || eq_lit(status, "ok"))
        return FL_OK;
    if (status == str_ignored || eq_lit(status, "ignored"))
        return FL_IGNORED;
    if (status == str_unknown || eq_lit(status, "unknown"))
        return FL_UNKNOWN;
    return 0;
}

/* -- Joiner._feed_via_c: the C struct path, for tests and measurements ------------------- */

#include <time.h>

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A ParseResult as an fl_result (what the C parser would hand over), if it converts
 * without temporaries: 1; 0 if not (big ints, long lists, surrogates, odd types:
 * the C parser would answer FL_FALLBACK); -1 with an exception. */
static int to_fl_result(PyObject *res, fl_result *out) {
    PyObject *status, *time, *records;
    if (Py_TYPE(res) != (PyTypeObject *)cls_parse_result)
        return 0;
    if (join_py_result(res, &status, &time, &records) < 0)
        return -1;
    int rc = 1;
    out->status = join_py_status(status);
    out->program = FL_NONE;
    PyObject *hkeep;
    if (join_py_host(res, &hkeep, &out->host) < 0) {
        PyErr_Clear();
        rc = 0;
    } else if (hkeep != NULL) {
        /* the str (alive in res) holds the UTF-8 the slice points to; an encoding of
         * surrogates would be a temporary */
        if (!PyUnicode_Check(hkeep))
            rc = 0;
        Py_DECREF(hkeep);
    }
    out->n_records = 0;
    out->time = 0;
    if (out->status == 0) {
        rc = 0;
    } else if (out->status == FL_OK) {
        int overflow = 0;
        if (!PyLong_Check(time) || !PyTuple_CheckExact(records) ||
            PyTuple_GET_SIZE(records) > FL_MAX_RECORDS)
            rc = 0;
        else if ((out->time = PyLong_AsLongLongAndOverflow(time, &overflow)), overflow)
            rc = 0;
        for (Py_ssize_t i = 0; rc == 1 && i < PyTuple_GET_SIZE(records); i++) {
            PyObject *rec = PyTuple_GET_ITEM(records, i);
            int kind = join_py_kind(rec);
            jside side;
            jconv cv = {NULL, {NULL, NULL}, 0};
            memset(&side, 0, sizeof side);
            if (kind == 0 || convert(rec, kind, &out->records[i], &side, &cv) < 0) {
                PyErr_Clear();
                rc = 0;
            } else if (cv.keep || cv.nheap || side.big[0] || side.big[1] || side.service) {
                rc = 0;
            }
            free(cv.heap[0]);
            free(cv.heap[1]);
            Py_XDECREF(cv.keep);
            out->n_records = (int)i + 1;
        }
    }
    Py_DECREF(status);
    Py_DECREF(time);
    Py_DECREF(records);
    return rc;
}

/* Joiner._feed_via_c(results) -> seconds spent in fl_join_feed.  Each result goes
 * through fl_join_feed (the C struct path of scan.c), or through fl_join_feed_py
 * when it cannot be an fl_result; events stay in the outbox (take()).  The results
 * (the list) keep the strings alive. */
PyObject *join_feed_via_c(PyObject *joiner, PyObject *results) {
    enum { CHUNK = 256 };
    PyObject *seq = PySequence_Fast(results, "_feed_via_c: a list of ParseResult");
    if (seq == NULL)
        return NULL;
    fl_result *buf = malloc(sizeof(fl_result) * CHUNK);
    if (buf == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    double spent = 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), i = 0;
    int rc = 0;
    while (rc == 0 && i < n) {
        int k = 0, c = 0;
        while (k < CHUNK && i < n && (c = to_fl_result(PySequence_Fast_GET_ITEM(seq, i), &buf[k])) == 1)
            k++, i++;
        if (c < 0) {
            rc = -1;
            break;
        }
        double t0 = seconds();
        for (int x = 0; rc == 0 && x < k; x++)
            rc = fl_join_feed(joiner, &buf[x]);
        spent += seconds() - t0;
        if (rc == 0 && c == 0 && i < n) /* this one cannot be an fl_result */
            rc = fl_join_feed_py(joiner, PySequence_Fast_GET_ITEM(seq, i++));
    }
    free(buf);
    Py_DECREF(seq);
    return rc < 0 ? NULL : PyFloat_FromDouble(spent);
}
