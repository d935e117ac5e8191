/* The C twin of mailtally.ingest.join: the Joiner type and the fl_join_* entry
 * points of fastlog.h.  The Python module is the reference: this type answers
 * exactly as join.Joiner does (same events, counters and state()), and
 * tests/test_fastlog_join.py checks it.  See join.h for the parts and the
 * conventions; the methods below are in the order of join.py's public API.
 */
#include "join.h"
#include <math.h>
#include <stddef.h>
#include <structmember.h>

/* -- construction ----------------------------------------------------------------------- */

static PyObject *Joiner_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    if (join_import_events() < 0 || join_py_init() < 0)
        return NULL;
    Joiner *j = (Joiner *)type->tp_alloc(type, 0);
    if (j == NULL)
        return NULL;
    otable *sets[] = {&j->webmail_hosts, &j->webmail_uids, &j->webmail_users, &j->junk_mailboxes,
                      &j->local_services, &j->filter_relays, &j->filter_ports,
                      &j->held, &j->pending_verdicts, &j->pending_junk, &j->done,
                      &j->sieve_fwd, &j->quota_done, &j->own_hosts};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        ot_init(sets[i], NULL);
    ot_init(&j->msgs, jmsg_free);
    ot_init(&j->msgid_index, ostr_box_free);
    ot_init(&j->children, jchildren_free);
    j->children.val_bytes = jchildren_bytes;
    ot_init(&j->quota, jquota_free);
    ot_init(&j->rcache, NULL);
    join_rcache_clear(j); /* sets the cache's free_val */
    j->max_entries = 100000;
    j->max_age = 86400;
    j->reinject_grace = 60;
    join_set_host(j, FL_NONE); /* (first_host is None: never fails) */
    j->outbox = PyList_New(0);
    if (j->outbox == NULL) {
        Py_DECREF(j);
        return NULL;
    }
    return (PyObject *)j;
}

/* int(o) clamped to [lo, hi] (Python's max(lo, int(o)); hi: see J_CONFIG_LIMIT) */
static int config_int(PyObject *o, int64_t lo, int64_t hi, int64_t *out) {
    PyObject *n = PyNumber_Long(o);
    if (n == NULL)
        return -1;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(n, &overflow);
    Py_DECREF(n);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow > 0 || v > hi)
        v = hi;
    if (overflow < 0 || v < lo)
        v = lo;
    *out = v;
    return 0;
}

/* UTF-8 of a str (surrogatepass); *keep holds a bytes object to release, if any */
static const char *utf8_of(PyObject *s, Py_ssize_t *n, PyObject **keep) {
    *keep = NULL;
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "str expected, not %.80s", Py_TYPE(s)->tp_name);
        return NULL;
    }
    const char *p = PyUnicode_AsUTF8AndSize(s, n);
    if (p != NULL || !PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return p;
    PyErr_Clear();
    if ((*keep = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass")) == NULL)
        return NULL;
    *n = PyBytes_GET_SIZE(*keep);
    return PyBytes_AS_STRING(*keep);
}

enum { SET_STR, SET_STR_LOWER, SET_STR_ONLY, SET_HOSTS, SET_INTS, SET_HOSTS_LOWER };

/* A configuration set, as the reference builds it:
 *   SET_STR_LOWER  frozenset(x.lower() for x in it)   (junk_mailboxes, filter_relays)
 *   SET_STR_ONLY   frozenset(it), looked up with strs only (local_services, webmail_users)
 *   SET_HOSTS      frozenset(h[7:] if h.startswith("::ffff:") else h for h in it)
 *   SET_HOSTS_LOWER  the same of h.lower() for h in it, in order (own_hosts)
 *   SET_INTS       frozenset(it), looked up with ints only (webmail_uids, filter_ports):
 *                  kept as the decimal form of the members equal to an int */
static int config_set(otable *t, PyObject *it, int how) {
    PyObject *iter = PyObject_GetIter(it), *x;
    if (iter == NULL)
        return -1;
    tbuf lo;
    tb_init(&lo);
    int rc = 0;
    while (rc == 0 && (x = PyIter_Next(iter)) != NULL) {
        PyObject *keep = NULL;
        Py_ssize_t n;
        const char *p;
        if (how == SET_INTS) {
            PyObject *i = NULL;
            if (PyLong_Check(x))
                i = PyNumber_Index(x); /* an exact int: str(True) would say "True" */
            else if (PyFloat_Check(x) && isfinite(PyFloat_AS_DOUBLE(x)) &&
                     floor(PyFloat_AS_DOUBLE(x)) == PyFloat_AS_DOUBLE(x))
                i = PyLong_FromDouble(PyFloat_AS_DOUBLE(x)); /* 25.0 == 25 */
            else if (PyObject_Hash(x) == -1) /* frozenset() would refuse it */
                rc = -1;
            if (i != NULL) {
                keep = PyObject_Str(i);
                Py_DECREF(i);
                p = keep ? PyUnicode_AsUTF8AndSize(keep, &n) : NULL;
                rc = p == NULL ? -1 : set_add(t, p, n);
            } else if (PyErr_Occurred()) {
                rc = -1;
            }
        } else if (how == SET_STR_ONLY && !PyUnicode_Check(x)) {
            if (PyObject_Hash(x) == -1)
                rc = -1; /* a member no str equals */
        } else if ((p = utf8_of(x, &n, &keep)) == NULL) {
            rc = -1;
        } else if (how == SET_STR_LOWER || how == SET_HOSTS_LOWER) {
            rc = join_lower(p, n, &lo);
            Py_ssize_t cut = how == SET_HOSTS_LOWER && lo.n >= 7 && memcmp(lo.p, "::ffff:", 7) == 0 ? 7 : 0;
            if (rc == 0)
                rc = set_add(t, lo.p + cut, lo.n - cut);
        } else {
            if (how == SET_HOSTS && n >= 7 && memcmp(p, "::ffff:", 7) == 0)
                p += 7, n -= 7;
            rc = set_add(t, p, n);
        }
        Py_XDECREF(keep);
        Py_DECREF(x);
    }
    tb_free(&lo);
    Py_DECREF(iter);
    if (rc == 0 && PyErr_Occurred())
        rc = -1;
    return rc;
}

static int Joiner_init(Joiner *j, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"max_entries", "max_age", "webmail_hosts", "webmail_uids",
                             "junk_mailboxes", "local_services", "filter_relays",
                             "filter_ports", "reinject_grace", "recipient_delimiter",
                             "resolve", "own_hosts", "webmail_users", NULL};
    PyObject *max_entries = NULL, *max_age = NULL, *hosts = NULL, *uids = NULL, *junk = NULL,
             *services = NULL, *relays = NULL, *ports = NULL, *grace = NULL, *delim = NULL,
             *resolve = Py_None, *own = NULL, *users = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OOOOOOOOOOOOO:Joiner", kwlist, &max_entries,
                                     &max_age, &hosts, &uids, &junk, &services, &relays, &ports,
                                     &grace, &delim, &resolve, &own, &users))
        return -1;
    if (j->busy || j->lines || j->msgs.n || j->webmail_hosts.n) {
        PyErr_SetString(PyExc_RuntimeError, "Joiner.__init__ called twice");
        return -1;
    }
    int64_t v;
    if (max_entries) {
        if (config_int(max_entries, 1, PY_SSIZE_T_MAX, &v) < 0)
            return -1;
        j->max_entries = (Py_ssize_t)v;
    }
    if (max_age && config_int(max_age, 1, J_CONFIG_LIMIT, &j->max_age) < 0)
        return -1;
    if (grace && config_int(grace, 0, J_CONFIG_LIMIT, &j->reinject_grace) < 0)
        return -1;
    /* the defaults, as tuples: built the way the reference's defaults are */
    PyObject *d_hosts = Py_BuildValue("(ss)", "127.0.0.1", "::1");
    PyObject *d_uids = Py_BuildValue("(i)", 33);
    PyObject *d_users = Py_BuildValue("(s)", "www-data");
    PyObject *d_junk = Py_BuildValue("(sss)", "Junk", "Spam", "Junk E-mail");
    PyObject *d_services = Py_BuildValue("(ssss)", "lmtp", "local", "virtual", "pipe");
    PyObject *d_relays = PyTuple_New(0);
    PyObject *d_ports = Py_BuildValue("(iii)", 10023, 10024, 10026);
    int rc = -1;
    if (!d_hosts || !d_uids || !d_users || !d_junk || !d_services || !d_relays || !d_ports)
        goto out;
    if (config_set(&j->webmail_hosts, hosts ? hosts : d_hosts, SET_HOSTS) < 0 ||
        config_set(&j->webmail_uids, uids ? uids : d_uids, SET_INTS) < 0 ||
        config_set(&j->webmail_users, users ? users : d_users, SET_STR_ONLY) < 0 ||
        config_set(&j->junk_mailboxes, junk ? junk : d_junk, SET_STR_LOWER) < 0 ||
        config_set(&j->local_services, services ? services : d_services, SET_STR_ONLY) < 0 ||
        config_set(&j->filter_relays, relays ? relays : d_relays, SET_STR_LOWER) < 0 ||
        config_set(&j->filter_ports, ports ? ports : d_ports, SET_INTS) < 0 ||
        (own && config_set(&j->own_hosts, own, SET_HOSTS_LOWER) < 0))
        goto out;
    if (delim == NULL) {
        if (ostr_set(&j->delim, "+", 1) < 0)
            goto out;
    } else {
        int truth = PyObject_IsTrue(delim);
        if (truth < 0)
            goto out;
        if (truth) { /* `if d:` — a falsy delimiter is none */
            PyObject *keep;
            Py_ssize_t n;
            const char *p = utf8_of(delim, &n, &keep);
            rc = p == NULL ? -1 : ostr_set(&j->delim, p, n);
            Py_XDECREF(keep);
            if (rc < 0)
                goto out;
            rc = -1;
        }
    }
    if (resolve != Py_None)
        j->resolve = Py_NewRef(resolve);
    rc = 0;
out:
    Py_XDECREF(d_hosts);
    Py_XDECREF(d_uids);
    Py_XDECREF(d_users);
    Py_XDECREF(d_junk);
    Py_XDECREF(d_services);
    Py_XDECREF(d_relays);
    Py_XDECREF(d_ports);
    return rc;
}

static int Joiner_traverse(Joiner *j, visitproc visit, void *arg) {
    Py_VISIT(j->resolve);
    Py_VISIT(j->resolve_tables);
    Py_VISIT(j->outbox);
    return 0;
}

static int Joiner_clear(Joiner *j) {
    Py_CLEAR(j->resolve);
    Py_CLEAR(j->resolve_tables);
    Py_CLEAR(j->outbox);
    return 0;
}

static void Joiner_dealloc(Joiner *j) {
    PyObject_GC_UnTrack(j);
    Joiner_clear(j);
    otable *all[] = {&j->webmail_hosts, &j->webmail_uids, &j->webmail_users, &j->junk_mailboxes,
                     &j->local_services, &j->filter_relays, &j->filter_ports, &j->msgs,
                     &j->held, &j->msgid_index, &j->children, &j->pending_verdicts,
                     &j->pending_junk, &j->done, &j->sieve_fwd, &j->quota, &j->quota_done,
                     &j->rcache, &j->own_hosts};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ot_dealloc(all[i]);
    ostr_free(&j->delim);
    ostr_free(&j->first_host);
    Py_TYPE(j)->tp_free((PyObject *)j);
}

/* -- busy guard ---------------------------------------------------------------------------- */

/* A method that changes the state refuses to run inside another one (a resolve
 * callback feeding its own joiner): the C structures are in use. */
static int enter(Joiner *j) {
    if (j->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Joiner is busy (called from its resolve callback)");
        return -1;
    }
    if (j->outbox == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Joiner was cleared");
        return -1;
    }
    j->busy = 1;
    return 0;
}

static void leave(Joiner *j) {
    join_set_host_none(j); /* the line's host slice dies with the call */
    j->busy = 0;
    if (j->clear_pending) {
        j->clear_pending = 0;
        join_rcache_clear(j);
    }
}

/* `except Exception: self.errors += 1` — 0 if caught, -1 if it must go through */
static int catch_error(Joiner *j) {
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
    PyErr_Clear();
    j->errors++;
    return 0;
}

/* A line's time as int64 (see J_TIME_LIMIT); -1 with TypeError/OverflowError. */
static int time_of(PyObject *o, int64_t *t) {
    if (!PyLong_Check(o)) {
        /* the reference fails too, at `t > self.now`, for most non-numbers */
        PyErr_Format(PyExc_TypeError, "a line time must be an int, not %.80s", Py_TYPE(o)->tp_name);
        return -1;
    }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow || v > J_TIME_LIMIT || v < -J_TIME_LIMIT) {
        PyErr_SetString(PyExc_OverflowError, "line time out of range");
        return -1;
    }
    *t = v;
    return 0;
}

/* The start of an ok line or of add(): the clock, and the sweep it makes due. */
static int advance(Joiner *j, int64_t t) {
    if (t > j->now)
        j->now = t;
    if (j->now >= j->next_sweep && join_sweep_safely(j) < 0)
        return -1;
    if (j->held_bytes > J_MAX_HELD_BYTES)
        return join_shed_safely(j);
    return 0;
}

/* feed() of a Python ParseResult, without the take(): *status_out = its status. */
static int feed_py(Joiner *j, PyObject *res, int *status_out) {
    PyObject *status, *time, *records, *iter = NULL, *rec, *hostkeep = NULL;
    int rc = -1;
    *status_out = 0;
    j->lines++;
    if (join_py_result(res, &status, &time, &records) < 0)
        return -1;
    int st = join_py_status(status);
    *status_out = st;
    if (st == FL_IGNORED) {
        j->ignored++;
        rc = 0;
    } else if (st == FL_UNKNOWN) {
        j->unknown++;
        rc = 0;
    } else if (st == FL_OK) {
        j->ok++;
        fl_str host;
        if (join_py_host(res, &hostkeep, &host) < 0 || join_set_host(j, host) < 0)
            goto out;
        if (time == NULL && (time = PyObject_GetAttrString(res, "time")) == NULL)
            goto out;
        int64_t t = j->now;
        if (time != Py_None && time_of(time, &t) < 0)
            goto out;
        if (advance(j, t) < 0)
            goto out;
        if (records == NULL && (records = PyObject_GetAttrString(res, "records")) == NULL)
            goto out;
        if (PyTuple_CheckExact(records)) { /* the parsers' tuples: no iterator */
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(records); i++) {
                j->records++;
                rec = PyTuple_GET_ITEM(records, i);
                int kind = join_py_kind(rec);
                if (kind && join_py_handle(j, rec, kind, t) < 0 && catch_error(j) < 0)
                    goto out;
            }
            rc = 0;
            goto out;
        }
        if ((iter = PyObject_GetIter(records)) == NULL)
            goto out;
        while ((rec = PyIter_Next(iter)) != NULL) {
            j->records++;
            int kind = join_py_kind(rec);
            int hr = kind ? join_py_handle(j, rec, kind, t) : 0;
            Py_DECREF(rec);
            if (hr < 0 && catch_error(j) < 0) /* a joiner bug must not stop an ingest */
                goto out;
        }
        if (PyErr_Occurred())
            goto out;
        rc = 0;
    } else {
        rc = 0;
    }
out:
    join_set_host_none(j); /* (the slice dies with hostkeep) */
    Py_XDECREF(hostkeep);
    Py_XDECREF(iter);
    Py_XDECREF(status);
    Py_XDECREF(time);
    Py_XDECREF(records);
    return rc;
}

/* take(): the outbox, replaced by an empty list */
static PyObject *take(Joiner *j) {
    PyObject *fresh = PyList_New(0);
    if (fresh == NULL)
        return NULL;
    PyObject *out = j->outbox;
    j->outbox = fresh;
    return out;
}

static PyObject *Joiner_feed(Joiner *j, PyObject *res) {
    if (enter(j) < 0)
        return NULL;
    int st;
    int rc = feed_py(j, res, &st);
    PyObject *out;
    if (rc < 0)
        out = NULL;
    else if (st == FL_OK && PyList_GET_SIZE(j->outbox))
        out = take(j);
    else
        out = PyTuple_New(0);
    leave(j);
    return out;
}

static PyObject *Joiner_add(Joiner *j, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "add(record, time, host='') takes 2 or 3 arguments");
        return NULL;
    }
    if (enter(j) < 0)
        return NULL;
    PyObject *out = NULL, *hkeep = NULL;
    int64_t t = 0;
    PyObject *n = PyNumber_Long(args[1]); /* int(time) */
    if (n == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError) && !PyErr_ExceptionMatches(PyExc_ValueError) &&
            !PyErr_ExceptionMatches(PyExc_OverflowError))
            goto out;
        PyErr_Clear();
        j->errors++;
        out = PyTuple_New(0);
        goto out;
    }
    int bad = time_of(n, &t);
    Py_DECREF(n);
    if (bad < 0) { /* past J_TIME_LIMIT: refused (the reference would go on) */
        PyErr_Clear();
        j->errors++;
        out = PyTuple_New(0);
        goto out;
    }
    fl_str host = {"", 0};
    if (nargs == 3 && PyUnicode_Check(args[2]) &&
        (host.p = utf8_of(args[2], &host.n, &hkeep)) == NULL)
        goto out;
    if (join_set_host(j, host) < 0)
        goto out;
    j->records++;
    if (advance(j, t) < 0)
        goto out;
    int kind = join_py_kind(args[0]);
    if (kind && join_py_handle(j, args[0], kind, t) < 0 && catch_error(j) < 0)
        goto out;
    out = PyList_GET_SIZE(j->outbox) ? take(j) : PyTuple_New(0);
out:
    leave(j);
    Py_XDECREF(hkeep);
    return out;
}

static PyObject *Joiner_take(Joiner *j, PyObject *unused) {
    if (enter(j) < 0)
        return NULL;
    PyObject *out = take(j);
    leave(j);
    return out;
}

static PyObject *Joiner_process(Joiner *j, PyObject *results) {
    if (enter(j) < 0)
        return NULL;
    PyObject *out = PyList_New(0), *iter = NULL, *r;
    if (out == NULL)
        goto fail;
    if ((iter = PyObject_GetIter(results)) == NULL)
        goto fail;
    while ((r = PyIter_Next(iter)) != NULL) {
        int st;
        int rc = feed_py(j, r, &st);
        Py_DECREF(r);
        if (rc < 0)
            goto fail;
        if (st == FL_OK && PyList_GET_SIZE(j->outbox)) {
            PyObject *evs = take(j);
            if (evs == NULL)
                goto fail;
            rc = PyList_SetSlice(out, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, evs);
            Py_DECREF(evs);
            if (rc < 0)
                goto fail;
        }
    }
    if (PyErr_Occurred())
        goto fail;
    Py_DECREF(iter);
    leave(j);
    return out;
fail:
    Py_XDECREF(iter);
    Py_XDECREF(out);
    leave(j);
    return NULL;
}

/* flush() without the take() */
static int flush(Joiner *j) {
    tbuf k;
    tb_init(&k);
    int rc = 0;
    while (j->held.n) { /* qid, _ = self._held.popitem(last=False); self._finish(qid) */
        onode *e = j->held.head;
        if ((rc = tb_set(&k, e->key, e->klen)) < 0)
            break;
        ot_del(&j->held, e);
        if ((rc = join_finish(j, k.p, k.n)) < 0)
            break;
    }
    tb_free(&k);
    if (rc == 0)
        rc = join_quota_emit_all(j);
    if (rc < 0)
        return catch_error(j);
    return 0;
}

static PyObject *Joiner_flush(Joiner *j, PyObject *unused) {
    if (enter(j) < 0)
        return NULL;
    PyObject *out = flush(j) < 0 ? NULL : take(j);
    leave(j);
    return out;
}

static PyObject *Joiner_expire_all(Joiner *j, PyObject *unused) {
    if (enter(j) < 0)
        return NULL;
    PyObject *out = NULL;
    if (flush(j) < 0 || (out = take(j)) == NULL)
        goto done;
    tbuf k;
    tb_init(&k);
    int rc = 0;
    while (j->msgs.n) {
        onode *e = j->msgs.head;
        if ((rc = tb_set(&k, e->key, e->klen)) < 0 || (rc = join_expire(j, k.p, k.n)) < 0)
            break;
    }
    tb_free(&k);
    if (rc < 0 && catch_error(j) < 0) {
        Py_CLEAR(out);
        goto done;
    }
    if (PyList_SetSlice(out, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, j->outbox) < 0 ||
        PyList_SetSlice(j->outbox, 0, PY_SSIZE_T_MAX, NULL) < 0)
        Py_CLEAR(out);
done:
    leave(j);
    return out;
}

/* _emit(event): the reference's helper, which tests use to fill the outbox */
static PyObject *Joiner_emit(Joiner *j, PyObject *ev) {
    if (enter(j) < 0)
        return NULL;
    int rc = join_emit(j, Py_NewRef(ev));
    leave(j);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Joiner_clear_resolve_cache(Joiner *j, PyObject *unused) {
    if (j->busy)
        j->clear_pending = 1; /* called from resolve: the cache is in use */
    else
        join_rcache_clear(j);
    Py_RETURN_NONE;
}

static const char *const counter_names[] = {"lines",   "ok",      "ignored",
                                            "unknown", "records", "events",
                                            "expired", "abandoned", "errors",
                                            "dropped"};

long long *join_counter(Joiner *j, int i) {
    long long *c[] = {&j->lines,   &j->ok,      &j->ignored, &j->unknown, &j->records,
                      &j->events,  &j->expired, &j->abandoned, &j->errors,
                      &j->dropped};
    return c[i];
}

/* {name: value} of the counters (plus skipped and in_flight for counters()) */
PyObject *join_counters(Joiner *j, int extra) {
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (int i = 0; i < J_N_COUNTERS; i++) {
        PyObject *v = PyLong_FromLongLong(*join_counter(j, i));
        if (v == NULL || PyDict_SetItemString(d, counter_names[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    if (extra) {
        PyObject *s = PyLong_FromLongLong(j->expired), *f = PyLong_FromSize_t(j->msgs.n);
        int bad = !s || !f || PyDict_SetItemString(d, "skipped", s) < 0 ||
                  PyDict_SetItemString(d, "in_flight", f) < 0;
        Py_XDECREF(s);
        Py_XDECREF(f);
        if (bad) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

static PyObject *Joiner_counters(Joiner *j, PyObject *unused) { return join_counters(j, 1); }

static PyObject *Joiner_state(Joiner *j, PyObject *unused) {
    if (enter(j) < 0)
        return NULL;
    PyObject *s = join_state(j);
    leave(j);
    return s;
}

static PyObject *Joiner_from_state(PyObject *cls, PyObject *args, PyObject *kw) {
    PyObject *state;
    if (!PyArg_ParseTuple(args, "O:from_state", &state))
        return NULL;
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        return NULL;
    PyObject *j = PyObject_Call(cls, empty, kw); /* cls(**config) */
    Py_DECREF(empty);
    if (j == NULL)
        return NULL;
    if (!PyObject_TypeCheck(j, &JoinerType)) {
        PyErr_SetString(PyExc_TypeError, "from_state: not a Joiner");
        Py_DECREF(j);
        return NULL;
    }
    if (join_load_state((Joiner *)j, state) < 0) {
        Py_DECREF(j);
        return NULL;
    }
    return j;
}

static PyObject *Joiner_get_skipped(Joiner *j, void *unused) {
    return PyLong_FromLongLong(j->expired);
}

static PyObject *Joiner_get_resolve(Joiner *j, void *unused) {
    return Py_NewRef(j->resolve ? j->resolve : Py_None);
}

static PyObject *Joiner_get_resolve_tables(Joiner *j, void *unused) {
    return Py_NewRef(j->resolve_tables ? j->resolve_tables : Py_None);
}

/* resolve_tables = None or (users, canonical): two dicts.  The answers cached from
 * before are the caller's to drop (clear_resolve_cache), as when the tree changes. */
static int Joiner_set_resolve_tables(Joiner *j, PyObject *v, void *unused) {
    if (v == NULL || v == Py_None) {
        Py_CLEAR(j->resolve_tables);
        return 0;
    }
    if (!PyTuple_CheckExact(v) || PyTuple_GET_SIZE(v) != 2 ||
        !PyDict_CheckExact(PyTuple_GET_ITEM(v, 0)) || !PyDict_CheckExact(PyTuple_GET_ITEM(v, 1))) {
        PyErr_SetString(PyExc_TypeError, "resolve_tables: None or a tuple of two dicts");
        return -1;
    }
    Py_XSETREF(j->resolve_tables, Py_NewRef(v));
    return 0;
}

static PyObject *Joiner_get_delimiter(Joiner *j, void *unused) {
    if (j->delim.p == NULL)
        return PyUnicode_FromString("");
    return ostr_py(&j->delim);
}

static PyMethodDef Joiner_methods[] = {
    {"feed", (PyCFunction)Joiner_feed, METH_O,
     "Take one ParseResult; returns the events it completed (often none)."},
    {"add", (PyCFunction)(void (*)(void))Joiner_add, METH_FASTCALL,
     "Take one record dated time; returns the events completed."},
    {"take", (PyCFunction)Joiner_take, METH_NOARGS, "Events emitted and not yet handed out."},
    {"process", (PyCFunction)Joiner_process, METH_O, "Feed many results; all their events."},
    {"flush", (PyCFunction)Joiner_flush, METH_NOARGS,
     "At the end of the input: count what is complete, and return those events."},
    {"expire_all", (PyCFunction)Joiner_expire_all, METH_NOARGS,
     "Count and drop every message in flight."},
    {"clear_resolve_cache", (PyCFunction)Joiner_clear_resolve_cache, METH_NOARGS,
     "Forget the cached resolve answers (the tenant tree may have changed)."},
    {"_feed_via_c", (PyCFunction)join_feed_via_c, METH_O,
     "Test and measurement aid: feed ParseResults through fl_join_feed (the C struct path); "
     "returns the seconds spent in it.  The events stay in the outbox."},
    {"_emit", (PyCFunction)Joiner_emit, METH_O, "Put an event in the outbox (as if emitted)."},
    {"counters", (PyCFunction)Joiner_counters, METH_NOARGS, "Counters so far."},
    {"state", (PyCFunction)Joiner_state, METH_NOARGS, "The whole state, JSON-able."},
    {"from_state", (PyCFunction)(void (*)(void))Joiner_from_state,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "A joiner continuing from state(), with configuration config."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Joiner_members[] = {
    {"now", T_LONGLONG, offsetof(Joiner, now), 0, "the latest line time seen"},
    {"lines", T_LONGLONG, offsetof(Joiner, lines), 0, NULL},
    {"ok", T_LONGLONG, offsetof(Joiner, ok), 0, NULL},
    {"ignored", T_LONGLONG, offsetof(Joiner, ignored), 0, NULL},
    {"unknown", T_LONGLONG, offsetof(Joiner, unknown), 0, NULL},
    {"records", T_LONGLONG, offsetof(Joiner, records), 0, NULL},
    {"events", T_LONGLONG, offsetof(Joiner, events), 0, NULL},
    {"expired", T_LONGLONG, offsetof(Joiner, expired), 0, NULL},
    {"abandoned", T_LONGLONG, offsetof(Joiner, abandoned), 0, NULL},
    {"dropped", T_LONGLONG, offsetof(Joiner, dropped), 0, NULL},
    {"errors", T_LONGLONG, offsetof(Joiner, errors), 0, NULL},
    {"max_entries", T_PYSSIZET, offsetof(Joiner, max_entries), READONLY, NULL},
    {"max_age", T_LONGLONG, offsetof(Joiner, max_age), READONLY, NULL},
    {"reinject_grace", T_LONGLONG, offsetof(Joiner, reinject_grace), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef Joiner_getset[] = {
    {"skipped", (getter)Joiner_get_skipped, NULL,
     "Queued messages dropped unfinished (the ingest report's \"skipped\").", NULL},
    {"resolve", (getter)Joiner_get_resolve, NULL, NULL, NULL},
    {"resolve_tables", (getter)Joiner_get_resolve_tables, (setter)Joiner_set_resolve_tables,
     "None, or (users, canonical) of a resolver holding the whole tree\n"
     "(record.Resolver.tables): resolve(address) is then answered from them, as\n"
     "Resolver.canonical answers, without a call.",
     NULL},
    {"recipient_delimiter", (getter)Joiner_get_delimiter, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject JoinerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mailtally.ingest._fastlog.Joiner",
    .tp_doc = "Joins parse results into events: the C twin of mailtally.ingest.join.Joiner.",
    .tp_basicsize = sizeof(Joiner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = Joiner_new,
    .tp_init = (initproc)Joiner_init,
    .tp_dealloc = (destructor)Joiner_dealloc,
    .tp_traverse = (traverseproc)Joiner_traverse,
    .tp_clear = (inquiry)Joiner_clear,
    .tp_methods = Joiner_methods,
    .tp_members = Joiner_members,
    .tp_getset = Joiner_getset,
};

/* -- fastlog.h ----------------------------------------------------------------------------- */

/* The key of the tables' hash (join_table.h), drawn from os.urandom once per
 * process before any table exists, so colliding keys cannot be computed offline. */
uint64_t fl_hash_k0, fl_hash_k1;

static int seed_hash(void) {
    PyObject *os = PyImport_ImportModule("os");
    if (os == NULL)
        return -1;
    PyObject *b = PyObject_CallMethod(os, "urandom", "i", 16);
    Py_DECREF(os);
    if (b == NULL)
        return -1;
    if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) != 16) {
        Py_DECREF(b);
        PyErr_SetString(PyExc_RuntimeError, "os.urandom(16) did not give 16 bytes");
        return -1;
    }
    memcpy(&fl_hash_k0, PyBytes_AS_STRING(b), 8);
    memcpy(&fl_hash_k1, PyBytes_AS_STRING(b) + 8, 8);
    Py_DECREF(b);
    return 0;
}

/* _table_hash(bytes) -> int: the tables' hash of a key, for the tests that check
 * it is keyed per process. */
static PyObject *table_hash(PyObject *self, PyObject *arg) {
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0)
        return NULL;
    uint64_t h = hash_bytes(v.buf, v.len);
    PyBuffer_Release(&v);
    return PyLong_FromUnsignedLongLong(h);
}

static PyMethodDef join_functions[] = {
    {"_table_hash", table_hash, METH_O, "The joiner tables' (keyed) hash of a bytes key."},
    {NULL, NULL, 0, NULL},
};

int fl_join_init(PyObject *module) {
    if (seed_hash() < 0 || PyModule_AddFunctions(module, join_functions) < 0)
        return -1;
    if (PyType_Ready(&JoinerType) < 0)
        return -1;
    Py_INCREF(&JoinerType);
    if (PyModule_AddObject(module, "Joiner", (PyObject *)&JoinerType) < 0) {
        Py_DECREF(&JoinerType);
        return -1;
    }
    return 0;
}

int fl_joiner_check(PyObject *obj) { return PyObject_TypeCheck(obj, &JoinerType); }

int fl_join_feed(PyObject *joiner, const fl_result *r) {
    Joiner *j = (Joiner *)joiner;
    if (r->status == FL_FALLBACK) {
        PyErr_SetString(PyExc_ValueError, "fl_join_feed: a FL_FALLBACK line is fed as a ParseResult");
        return -1;
    }
    if (enter(j) < 0)
        return -1;
    int rc = 0;
    j->lines++;
    if (r->status == FL_OK) {
        j->ok++;
        if ((rc = join_set_host(j, r->host)) < 0) {
            leave(j);
            return rc;
        }
        if (r->time > J_TIME_LIMIT || r->time < -J_TIME_LIMIT) {
            PyErr_SetString(PyExc_OverflowError, "line time out of range");
            rc = -1;
        } else if ((rc = advance(j, r->time)) == 0) {
            for (int i = 0; i < r->n_records && i < FL_MAX_RECORDS; i++) {
                j->records++;
                if (join_handle(j, &r->records[i], NULL, r->time) < 0 && (rc = catch_error(j)) < 0)
                    break;
            }
        }
    } else if (r->status == FL_IGNORED) {
        j->ignored++;
    } else if (r->status == FL_UNKNOWN) {
        j->unknown++;
    }
    leave(j);
    return rc;
}

int fl_join_feed_py(PyObject *joiner, PyObject *parse_result) {
    Joiner *j = (Joiner *)joiner;
    if (enter(j) < 0)
        return -1;
    int st;
    int rc = feed_py(j, parse_result, &st);
    leave(j);
    return rc;
}
