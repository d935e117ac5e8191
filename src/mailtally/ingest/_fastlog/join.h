/* The C twin of mailtally.ingest.join (the Python module is the reference: when
 * the two disagree, this one is wrong).  What the join*.c files share.
 *
 *   join.c           the Joiner type: constructor, feed/add/take/flush/…, the
 *                    fl_join_* entry points of fastlog.h
 *   join_util.c      strings (_norm, _strip_ext, str.lower, _ip_of, _loopback,
 *                    join._session), the resolve cache, building events
 *   join_state.c     the message table and its helpers: _msg, _drop, _bounded,
 *                    _sweep, _expire, _credit, _finish, _relay_receipts,
 *                    _is_filter, _link
 *   join_handlers.c  one function per handler (_smtpd → join_smtpd …)
 *   join_py.c        Python records → fl_record (feed of a ParseResult, add)
 *   join_dump.c      state() and from_state()
 *
 * Conventions.  Functions that can fail return 0 (or a pointer) on success and -1
 * (or NULL) with a Python exception set, like CPython.  A handler that fails leaves
 * behind whatever it changed before the failure, exactly as a Python handler that
 * raises half way does, so the order of the steps in every function follows the
 * Python line by line.  Strings are UTF-8 bytes (a str holding lone surrogates is
 * encoded with "surrogatepass" and decoded back the same way), compared as bytes:
 * equal strs have equal encodings.
 */
#ifndef MAILTALLY_FASTLOG_JOIN_H
#define MAILTALLY_FASTLOG_JOIN_H

#include "join_table.h"

/* join.STATE_VERSION (2: keys carry their host); a version-1 state loads too */
#define STATE_VERSION 2
#define SWEEP_EVERY 5
/* join.VERDICT_DEPTH, VERDICT_VISITS: the bounds of a verdict's walk of the
 * re-injection links (which log lines write) */
#define J_VERDICT_DEPTH 8
#define J_VERDICT_VISITS 256
/* join.MAX_HELD_RECIPIENTS: recipients one message in flight holds, at most */
#define J_MAX_HELD_RECIPIENTS 1000
/* join.MAX_HELD_TOTAL: recipients all messages in flight hold, at most */
#define J_MAX_HELD_TOTAL 50000
/* join.MAX_HELD_BYTES: bytes of strings all messages in flight hold (jmsg.weight) */
#define J_MAX_HELD_BYTES ((Py_ssize_t)16 << 20)
/* join.Joiner._COUNTERS: how many */
#define J_N_COUNTERS 10
/* Times are int64 in C.  Line times outside ±2^61 seconds (no stamp parser makes
 * them) are refused, and max_age/reinject_grace are clamped to 2^62, so that
 * `now + grace`, `now - max_age` never overflow. */
#define J_TIME_LIMIT ((int64_t)1 << 61)
#define J_CONFIG_LIMIT ((int64_t)1 << 62)
/* join.COUNTER_MAX: a counter loaded from a state is clamped to it */
#define J_COUNTER_MAX ((long long)1 << 62)
/* The resolve cache is dropped whole when it reaches this size (between two
 * clear_resolve_cache() calls of the ingester it stays far below). */
#define J_RCACHE_MAX (1 << 18)
/* join.MAX_TABLE_BYTES: the bytes of each keyed table besides msgs (otable.bytes) */
#define J_MAX_TABLE_BYTES ((size_t)4 << 20)
/* … or when its addresses and answers reach this many bytes: 2^18 addresses of 320
 * bytes (a log of ever new long addresses) held about 100 MB. */
#define J_RCACHE_BYTES ((size_t)16 << 20)

/* m.locals and m.bounced values: [to, orig_to or None, time, junk] / [to, orig, time].
 * The node holds the time (t) and junk (flag). */
typedef struct {
    ostr to, orig;
} jlocal;

/* m.fwds and m.relays values: [address, time]; the node holds the time. */
typedef struct {
    ostr addr;
} jaddr;

/* _Msg: one Postfix message in flight (same fields). */
typedef struct {
    int64_t seen;
    ostr client, sasl, msgid, parent; /* p == NULL: None */
    int loopback, out_done, queued, filtered;
    int spam; /* -1: None, 0: False, 1: True */
    int has_removed;
    int64_t removed;
    jint size, inherited_size, nrcpt;
    otable locals, fwds, bounced, relays; /* dicts: insertion order */
    /* Exim: _Msg.arrived (has_arrived 0: None) and _Msg.erc (a set) */
    int has_arrived;
    int64_t arrived;
    otable erc;
    Py_ssize_t weight; /* _Msg.weight: the bytes of the strings above (derived) */
} jmsg;

/* _Msg.held: the recipients m holds (J_MAX_HELD_RECIPIENTS, J_MAX_HELD_TOTAL) */
static inline size_t jmsg_held(const jmsg *m) {
    return m->locals.n + m->fwds.n + m->bounced.n + m->relays.n + m->erc.n;
}

/* self._children values: [time, [B...]] (at most 64 Bs); the node holds the time. */
typedef struct {
    Py_ssize_t n;
    ostr b[64];
} jchildren;

/* self._quota values: [user, root, bytes or None, items or None, time]. */
typedef struct {
    ostr user, root;
    jint bytes, items;
    int64_t time;
} jquota;

/* A cached answer of resolve(address): none (a falsy answer), a str (kept lower
 * cased: callers only use canon.lower()), or another truthy object (usable as a
 * truth value, but .lower() of it is what Python would call: we raise). */
enum { RC_NONE = 0, RC_STR, RC_OTHER };
typedef struct {
    int kind;
    ostr lower;
} jresolved;

typedef struct {
    PyObject_HEAD
    /* configuration (the constructor's keywords) */
    Py_ssize_t max_entries;
    int64_t max_age, reinject_grace;
    otable webmail_hosts;  /* set of str, "::ffff:" removed */
    otable webmail_uids;   /* set of int, as decimal strings */
    otable webmail_users;  /* set of str (Exim's U= of a local submission) */
    otable junk_mailboxes; /* lower case */
    otable local_services;
    otable filter_relays;  /* lower case */
    otable filter_ports;   /* set of int, as decimal strings */
    ostr delim;            /* recipient_delimiter; empty or None: none */
    PyObject *resolve;     /* NULL: None */
    /* NULL, or (users, canonical): resolve answered from these two dicts of a
     * whole tree (record.Resolver.tables) without calling resolve */
    PyObject *resolve_tables;
    otable own_hosts;      /* lower case, "::ffff:" removed; in the order given */
    /* the host of the line being handled (a slice of its record: valid during the
     * line), and khost: the same, or empty for the first host (join._k) */
    fl_str host, khost;
    /* state */
    ostr first_host;  /* join._first_host: p NULL or empty: none yet */
    int64_t now, next_sweep;
    PyObject *outbox; /* list of events */
    otable msgs;      /* qid -> jmsg */
    otable held;      /* qid -> deadline (t) */
    otable msgid_index; /* message-id -> qid (val: ostr) */
    otable children;  /* A -> jchildren, t */
    otable pending_verdicts; /* qid -> t, flag = spam */
    otable pending_junk, done, sieve_fwd; /* key -> t */
    otable quota;     /* user key -> jquota */
    otable quota_done; /* set */
    int64_t quota_time;
    size_t held_rcpts; /* join._rcpts: recipients held by all of msgs (derived) */
    Py_ssize_t held_bytes; /* join._bytes: the weights of all of msgs (derived) */
    long long lines, ok, ignored, unknown, records, events, expired, abandoned, errors, dropped;
    /* not state */
    otable rcache;   /* resolve cache: address -> jresolved */
    size_t rcache_bytes; /* of its keys and answers (J_RCACHE_BYTES) */
    int busy;        /* in a method: a reentrant call (from resolve) is refused */
    int clear_pending; /* clear_resolve_cache() called from inside resolve */
} Joiner;

/* Record-side extras of the Python path: ints that do not fit int64 (the Python
 * object, borrowed) and a MailLogin service outside the enum. */
typedef struct {
    PyObject *big[2]; /* Pickup: uid; QmgrFrom: size, nrcpt; QuotaRow: value */
    PyObject *service;
    /* FilterBlocked lists longer than FL_MAX_LIST */
    const fl_str *rcpts, *flags;
    int n_rcpts, n_flags;
} jside;

extern PyTypeObject JoinerType;

/* _u8 of a str the joiner holds (UTF-8 already): 0 for None */
static inline Py_ssize_t ostr_len(const ostr *o) { return o->p != NULL ? o->n : 0; }
/* _grow: m (in flight) holds d bytes of strings more (or fewer) */
static inline void join_grow(Joiner *j, jmsg *m, Py_ssize_t d) {
    m->weight += d;
    j->held_bytes += d;
}
/* _Msg.measure */
Py_ssize_t jmsg_measure(const jmsg *m);
size_t jchildren_bytes(const void *v);
void join_trim(Joiner *j, otable *t);
onode *join_bounded_with(Joiner *j, otable *t, const char *k, Py_ssize_t n, int64_t tval,
                         size_t extra);
void join_recount(Joiner *j);
int join_shed_safely(Joiner *j);

/* join_util.c */
int join_import_events(void);
PyObject *jstr_py(const char *p, Py_ssize_t n); /* str (surrogatepass); None if p NULL */
PyObject *ostr_py(const ostr *o);
int join_lower(const char *p, Py_ssize_t n, tbuf *out);          /* str.lower() */
int join_norm(Joiner *j, const char *p, Py_ssize_t n, tbuf *out); /* _norm */
int join_strip_ext(Joiner *j, const char *p, Py_ssize_t n, tbuf *out); /* _strip_ext */
int join_mailbox(Joiner *j, const char *p, Py_ssize_t n, int has_orig,
                 tbuf *out); /* _mailbox */
int join_loopback(const char *ip, Py_ssize_t n);
void join_ip_of(fl_str relay, fl_str *ip, fl_str *port); /* port.p NULL: None */
int join_session(fl_str response, fl_str *session);       /* join._session */
int join_resolve(Joiner *j, const char *p, Py_ssize_t n, const jresolved **out);
void join_rcache_clear(Joiner *j);
int set_has(const otable *t, const char *p, Py_ssize_t n);
int set_add(otable *t, const char *p, Py_ssize_t n);
int join_emit(Joiner *j, PyObject *ev); /* steals ev; NULL ev: -1 */
PyObject *ev_message_in(int64_t t, const char *u, Py_ssize_t un, const jint *size, int spam);
PyObject *ev_message_out(int64_t t, const ostr *user, const jint *nrcpt, const jint *size);
PyObject *ev_denied(int64_t t, const char *r, Py_ssize_t rn);
PyObject *ev_forward(int64_t t, const char *u, Py_ssize_t un);
PyObject *ev_autoresponse(int64_t t, fl_str user);
PyObject *ev_login(int64_t t, fl_str user, PyObject *service);
PyObject *ev_storage(int64_t t, const ostr *user, const jint *items, const jint *bytes);
PyObject *join_service_str(int service); /* borrowed "imap4"/"pop3" */
PyObject *join_event_dump(PyObject *ev);
PyObject *join_event_load(PyObject *d);
int jint_truthy(const jint *x);

/* no line being handled (its host slice is about to die) */
static inline void join_set_host_none(Joiner *j) {
    j->host = j->khost = (fl_str){"", 0};
}
/* _set_host: the line being handled is host's (lower case) */
int join_set_host_new(Joiner *j, fl_str host);
static inline int join_set_host(Joiner *j, fl_str host) {
    /* the common case, a line of the first host (or of none), without a call */
    Py_ssize_t n = host.n;
    if (host.p != NULL && (n == 0 || (n == j->first_host.n && j->first_host.p != NULL))) {
        Py_ssize_t i = 0;
        while (i < n && host.p[i] == j->first_host.p[i])
            i++;
        if (i == n) {
            j->host = host;
            j->khost = (fl_str){"", 0};
            return 0;
        }
    }
    return join_set_host_new(j, host);
}
/* join.key(host, ident), host being a key host (empty for the first one): *key is
 * ident itself or a slice of *out.  0, or -1 with MemoryError. */
int join_hkey(fl_str host, fl_str ident, tbuf *out, fl_str *key);
/* _k: the key of ident on the host of the line being handled */
static inline int join_k(const Joiner *j, fl_str ident, tbuf *out, fl_str *key) {
    return join_hkey(j->khost, ident, out, key);
}
/* _hk: the key of ident on host (any host: the first one keys bare) */
int join_hk(const Joiner *j, fl_str host, fl_str ident, tbuf *out, fl_str *key);
/* _beside: the key of ident on the host of key k */
int join_beside(const char *k, Py_ssize_t kn, const char *ident, Py_ssize_t n, tbuf *out);

/* join_state.c */
void jmsg_free(void *m);
void jchildren_free(void *c);
void jquota_free(void *q);
void jlocal_free(void *l);
void jaddr_free(void *a);
void ostr_box_free(void *o);
jmsg *jmsg_new(int64_t seen);
jmsg *join_msg(Joiner *j, const char *qid, Py_ssize_t n);
int join_drop(Joiner *j, const char *qid, Py_ssize_t n, jmsg **out);
onode *join_bounded(Joiner *j, otable *t, const char *k, Py_ssize_t n, int64_t tval);
void join_set_spam(jmsg *m, int spam);
int join_sweep(Joiner *j);
int join_sweep_safely(Joiner *j);
int join_expire(Joiner *j, const char *qid, Py_ssize_t n);
int join_expire_oldest(Joiner *j);
int join_finish(Joiner *j, const char *qid, Py_ssize_t n);
int join_is_filter(Joiner *j, const fl_delivery *d, fl_str ip, fl_str port);
int join_link(Joiner *j, fl_str a, fl_str b, int answered);
fl_str join_filter_id(fl_str response);
int join_filter_answer(Joiner *j, fl_str qid, fl_str response);

/* join_handlers.c */
int join_handle(Joiner *j, const fl_record *r, const jside *side, int64_t t);
int join_quota_emit_all(Joiner *j);

/* join_py.c */
int join_py_init(void);
/* The record's kind (enum fl_kind), or 0 if it is no record type the joiner handles. */
int join_py_kind(PyObject *rec);
/* Handle the Python record rec (of kind > 0), as join_handle does. */
int join_py_handle(Joiner *j, PyObject *rec, int kind, int64_t t);
/* ParseResult fields: status, time, records (new references; -1 with an exception).
 * For an object that is not exactly a ParseResult, only the status is read. */
int join_py_result(PyObject *res, PyObject **status, PyObject **time, PyObject **records);
PyObject *join_feed_via_c(PyObject *joiner, PyObject *results); /* Joiner._feed_via_c */
/* ParseResult.host (getattr(res, "host", ""); "" if no str): *keep holds what the
 * slice points into, to release after the line.  0, or -1 with an exception. */
int join_py_host(PyObject *res, PyObject **keep, fl_str *host);
/* FL_OK, FL_IGNORED, FL_UNKNOWN, or 0 for another status */
int join_py_status(PyObject *status);

/* join_dump.c */
PyObject *join_state(Joiner *j);
int join_load_state(Joiner *j, PyObject *state);

#endif
