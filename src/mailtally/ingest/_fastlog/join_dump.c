/* Part of the C twin of mailtally.ingest.join (the Python module is the
 * reference): Joiner.state() (with _Msg.dump, _event_dump) and
 * Joiner.from_state() (with _Msg.load, _event_load).  state() must equal the
 * reference's dict — same keys in the same order, same order of the entries of
 * every table, same value types — so that both serialise to the same JSON. */
#include "join.h"

long long *join_counter(Joiner *j, int i);
PyObject *join_counters(Joiner *j, int extra);

/* -- state() ------------------------------------------------------------------------------ */

static PyObject *i64(int64_t v) { return PyLong_FromLongLong(v); }
static PyObject *pybool(int v) { return Py_NewRef(v ? Py_True : Py_False); }

/* d[key] = value, value stolen; -1 if value is NULL or the store fails */
static int put(PyObject *d, const char *key, PyObject *value) {
    if (value == NULL)
        return -1;
    int rc = PyDict_SetItemString(d, key, value);
    Py_DECREF(value);
    return rc;
}

/* list.append(value), value stolen */
static int push(PyObject *l, PyObject *value) {
    if (value == NULL)
        return -1;
    int rc = PyList_Append(l, value);
    Py_DECREF(value);
    return rc;
}

/* [a, b] / [a, b, c] with references stolen */
static PyObject *row(int n, PyObject *a, PyObject *b, PyObject *c) {
    PyObject *items[3] = {a, b, c}, *l = NULL;
    int ok = a && b && (n < 3 || c);
    if (ok && (l = PyList_New(n)) != NULL) {
        for (int i = 0; i < n; i++)
            PyList_SET_ITEM(l, i, items[i]);
        return l;
    }
    for (int i = 0; i < n; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

static PyObject *key_py(const onode *e) { return jstr_py(e->key, e->klen); }

/* {key: [fields…]} of a message's table; what: 'l' locals, 'b' bounced, 'a' fwds/relays */

/* d[entry's key] = v, taking v (which may be NULL after a failure).  0, or -1. */
static int put_entry(PyObject *d, const onode *e, PyObject *v) {
    PyObject *k = key_py(e);
    int rc = (v && k) ? PyDict_SetItem(d, k, v) : -1;
    Py_XDECREF(k);
    Py_XDECREF(v);
    return rc;
}

static PyObject *msg_table(const otable *t, char what) {
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (const onode *e = t->head; e != NULL; e = e->next) {
        PyObject *v;
        if (what == 'a') {
            v = row(2, ostr_py(&((jaddr *)e->val)->addr), i64(e->t), NULL);
        } else {
            const jlocal *l = e->val;
            v = row(3, ostr_py(&l->to), ostr_py(&l->orig), i64(e->t));
            if (v != NULL && what == 'l' && push(v, pybool(e->flag)) < 0)
                Py_CLEAR(v);
        }
        if (put_entry(d, e, v) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

/* _Msg.dump */
static PyObject *msg_dump(const jmsg *m) {
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    if (put(d, "seen", i64(m->seen)) < 0 || put(d, "client", ostr_py(&m->client)) < 0 ||
        put(d, "loopback", pybool(m->loopback)) < 0 || put(d, "sasl", ostr_py(&m->sasl)) < 0 ||
        put(d, "size", jint_py(&m->size)) < 0 ||
        put(d, "inherited_size", jint_py(&m->inherited_size)) < 0 ||
        put(d, "nrcpt", jint_py(&m->nrcpt)) < 0 || put(d, "out_done", pybool(m->out_done)) < 0 ||
        put(d, "queued", pybool(m->queued)) < 0 ||
        put(d, "spam", m->spam < 0 ? Py_NewRef(Py_None) : pybool(m->spam)) < 0 ||
        put(d, "msgid", ostr_py(&m->msgid)) < 0 || put(d, "parent", ostr_py(&m->parent)) < 0 ||
        put(d, "filtered", pybool(m->filtered)) < 0 ||
        put(d, "removed", m->has_removed ? i64(m->removed) : Py_NewRef(Py_None)) < 0 ||
        put(d, "locals", msg_table(&m->locals, 'l')) < 0 ||
        put(d, "fwds", msg_table(&m->fwds, 'a')) < 0 ||
        put(d, "bounced", msg_table(&m->bounced, 'b')) < 0 ||
        put(d, "relays", msg_table(&m->relays, 'a')) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    if (m->has_arrived) { /* (an Exim submission's: absent from other states) */
        PyObject *erc = PyList_New(0);
        int bad = put(d, "arrived", i64(m->arrived)) < 0 || erc == NULL;
        for (const onode *e = m->erc.head; !bad && e != NULL; e = e->next)
            bad = push(erc, key_py(e)) < 0;
        if (bad || put(d, "erc", Py_NewRef(erc)) < 0) {
            Py_XDECREF(erc);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(erc);
    }
    return d;
}

/* [[key, value…] …] of a table; what: 'm' msgs, 'c' children, 'v' pending_verdicts,
 * 't' key and time */
static PyObject *table_rows(const otable *t, char what) {
    PyObject *l = PyList_New(0);
    if (l == NULL)
        return NULL;
    for (const onode *e = t->head; e != NULL; e = e->next) {
        PyObject *r;
        if (what == 'm') {
            r = row(2, key_py(e), msg_dump(e->val), NULL);
        } else if (what == 'c') {
            const jchildren *c = e->val;
            PyObject *bs = PyList_New(0);
            for (Py_ssize_t i = 0; bs != NULL && i < c->n; i++)
                if (push(bs, ostr_py(&c->b[i])) < 0)
                    Py_CLEAR(bs);
            r = row(3, key_py(e), i64(e->t), bs);
        } else if (what == 'v') {
            r = row(3, key_py(e), i64(e->t), pybool(e->flag));
        } else {
            r = row(2, key_py(e), i64(e->t), NULL);
        }
        if (push(l, r) < 0) {
            Py_DECREF(l);
            return NULL;
        }
    }
    return l;
}

/* [[message_id, qid] …] of the index, for the messages in flight */
static PyObject *index_rows(const Joiner *j) {
    PyObject *l = PyList_New(0);
    if (l == NULL)
        return NULL;
    for (const onode *e = j->msgid_index.head; e != NULL; e = e->next) {
        const ostr *q = e->val;
        if (q == NULL || q->p == NULL || ot_get(&j->msgs, q->p, q->n) == NULL)
            continue;
        if (push(l, row(2, key_py(e), ostr_py(q), NULL)) < 0) {
            Py_DECREF(l);
            return NULL;
        }
    }
    return l;
}

static PyObject *quota_dict(const otable *t) {
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (const onode *e = t->head; e != NULL; e = e->next) {
        const jquota *q = e->val;
        PyObject *v = row(3, ostr_py(&q->user), ostr_py(&q->root), jint_py(&q->bytes));
        if (v != NULL && (push(v, jint_py(&q->items)) < 0 || push(v, i64(q->time)) < 0))
            Py_CLEAR(v);
        if (put_entry(d, e, v) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

/* sorted(self._quota_done) */
static PyObject *sorted_keys(const otable *t) {
    PyObject *l = PyList_New(0);
    if (l == NULL)
        return NULL;
    for (const onode *e = t->head; e != NULL; e = e->next)
        if (push(l, key_py(e)) < 0) {
            Py_DECREF(l);
            return NULL;
        }
    if (PyList_Sort(l) < 0) {
        Py_DECREF(l);
        return NULL;
    }
    return l;
}

static PyObject *outbox_dump(Joiner *j) {
    PyObject *l = PyList_New(0);
    if (l == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(j->outbox); i++)
        if (push(l, join_event_dump(PyList_GET_ITEM(j->outbox, i))) < 0) {
            Py_DECREF(l);
            return NULL;
        }
    return l;
}

/* state(): the whole state, JSON-able (pending events of the outbox included) */
PyObject *join_state(Joiner *j) {
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    if (put(d, "version", i64(STATE_VERSION)) < 0 || put(d, "now", i64(j->now)) < 0 ||
        put(d, "next_sweep", i64(j->next_sweep)) < 0 ||
        put(d, "counters", join_counters(j, 0)) < 0 ||
        put(d, "msgs", table_rows(&j->msgs, 'm')) < 0 ||
        put(d, "msgid_index", index_rows(j)) < 0 ||
        put(d, "held", table_rows(&j->held, 't')) < 0 ||
        put(d, "children", table_rows(&j->children, 'c')) < 0 ||
        put(d, "pending_verdicts", table_rows(&j->pending_verdicts, 'v')) < 0 ||
        put(d, "pending_junk", table_rows(&j->pending_junk, 't')) < 0 ||
        put(d, "done", table_rows(&j->done, 't')) < 0 ||
        put(d, "sieve_fwd", table_rows(&j->sieve_fwd, 't')) < 0 ||
        put(d, "quota", quota_dict(&j->quota)) < 0 ||
        put(d, "quota_done", sorted_keys(&j->quota_done)) < 0 ||
        put(d, "quota_time", i64(j->quota_time)) < 0 || put(d, "outbox", outbox_dump(j)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* -- from_state() ------------------------------------------------------------------------- */

/* state.get(key) (a new reference; NULL and no exception when absent), or with
 * required, state[key] (KeyError when absent) */
static PyObject *get(PyObject *map, const char *key, int required) {
    PyObject *k = PyUnicode_FromString(key), *v;
    if (k == NULL)
        return NULL;
    if (PyDict_Check(map)) {
        v = PyDict_GetItemWithError(map, k);
        Py_XINCREF(v);
        if (v == NULL && !PyErr_Occurred() && required)
            PyErr_SetObject(PyExc_KeyError, k);
    } else {
        v = PyObject_GetItem(map, k);
        if (v == NULL && !required && PyErr_ExceptionMatches(PyExc_KeyError))
            PyErr_Clear();
    }
    Py_DECREF(k);
    return v;
}

/* int(o) as int64 */
static int to_i64(PyObject *o, int64_t *out) {
    PyObject *n = PyNumber_Long(o);
    if (n == NULL)
        return -1;
    long long v = PyLong_AsLongLong(n);
    Py_DECREF(n);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

/* a str or None into *o (see join_py.c for the rule on types) */
static int to_ostr(PyObject *s, ostr *o) {
    if (s == NULL || s == Py_None)
        return ostr_set(o, NULL, 0);
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "joiner state: str expected, not %.80s", Py_TYPE(s)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (p != NULL)
        return ostr_set(o, p, n);
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return -1;
    PyErr_Clear();
    PyObject *b = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
    if (b == NULL)
        return -1;
    int rc = ostr_set(o, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return rc;
}

/* A key (str) as a temporary; *keep: the bytes to release */
static const char *key_of(PyObject *s, Py_ssize_t *n, ostr *tmp) {
    if (to_ostr(s, tmp) < 0)
        return NULL;
    if (tmp->p == NULL) {
        PyErr_SetString(PyExc_TypeError, "joiner state: a key is None");
        return NULL;
    }
    *n = tmp->n;
    return tmp->p;
}

/* `for a, b(, c) in items`: the items of one row, exactly n of them */
static PyObject *unpack(PyObject *item, Py_ssize_t n) {
    PyObject *seq = PySequence_Fast(item, "joiner state: a row must be a sequence");
    if (seq != NULL && PySequence_Fast_GET_SIZE(seq) != n) {
        PyErr_Format(PyExc_ValueError, "joiner state: a row of %zd items, not %zd",
                     PySequence_Fast_GET_SIZE(seq), n);
        Py_CLEAR(seq);
    }
    return seq;
}
#define ITEM(seq, i) PySequence_Fast_GET_ITEM(seq, i)

/* table[key] = node, appended or (an existing key keeps its place) reused */
static onode *load_node(otable *t, PyObject *key) {
    ostr k = {NULL, 0};
    Py_ssize_t n;
    const char *p = key_of(key, &n, &k);
    onode *e = NULL;
    if (p != NULL) {
        uint64_t h = hash_bytes(p, n);
        e = ot_find(t, p, n, h);
        if (e == NULL)
            e = ot_append(t, p, n, h);
        else if (e->val != NULL && t->free_val != NULL) {
            t->free_val(e->val);
            e->val = NULL;
        }
    }
    ostr_free(&k);
    return e;
}

/* m.locals = {k: list(v) …} and the like; what as in msg_table */
static int load_msg_table(otable *t, PyObject *d, char what) {
    if (d == NULL)
        return 0;
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "joiner state: a message's table must be a dict");
        return -1;
    }
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
        PyObject *seq = unpack(v, what == 'l' ? 4 : what == 'b' ? 3 : 2);
        if (seq == NULL)
            return -1;
        onode *e = load_node(t, k);
        int rc = -1;
        if (e != NULL && what == 'a') {
            jaddr *a = calloc(1, sizeof *a);
            if ((e->val = a) != NULL)
                rc = to_ostr(ITEM(seq, 0), &a->addr) < 0 || to_i64(ITEM(seq, 1), &e->t) < 0 ? -1 : 0;
        } else if (e != NULL) {
            jlocal *l = calloc(1, sizeof *l);
            if ((e->val = l) != NULL)
                rc = to_ostr(ITEM(seq, 0), &l->to) < 0 || to_ostr(ITEM(seq, 1), &l->orig) < 0 ||
                             to_i64(ITEM(seq, 2), &e->t) < 0
                         ? -1
                         : 0;
            if (rc == 0 && what == 'l' && (e->flag = PyObject_IsTrue(ITEM(seq, 3))) < 0)
                rc = -1;
        }
        if (e != NULL && e->val == NULL && !PyErr_Occurred())
            PyErr_NoMemory();
        Py_DECREF(seq);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int load_jint(PyObject *d, const char *key, jint *x) {
    PyObject *v = get(d, key, 0);
    if (v == NULL && PyErr_Occurred())
        return -1;
    int rc = jint_from_py(x, v ? v : Py_None, 1);
    Py_XDECREF(v);
    return rc;
}

static int load_flag(PyObject *d, const char *key, int *flag) {
    PyObject *v = get(d, key, 0);
    if (v == NULL && PyErr_Occurred())
        return -1;
    int rc = v ? PyObject_IsTrue(v) : 0;
    Py_XDECREF(v);
    if (rc < 0)
        return -1;
    *flag = rc;
    return 0;
}

static int load_str(PyObject *d, const char *key, ostr *o) {
    PyObject *v = get(d, key, 0);
    if (v == NULL && PyErr_Occurred())
        return -1;
    int rc = to_ostr(v, o);
    Py_XDECREF(v);
    return rc;
}

/* set.update(iterable) of str keys: 0, or -1 with an exception */
static int load_set(otable *t, PyObject *iterable) {
    PyObject *it = PyObject_GetIter(iterable), *k;
    if (it == NULL)
        return -1;
    int rc = 0;
    while (rc == 0 && (k = PyIter_Next(it)) != NULL) {
        ostr tmp = {NULL, 0};
        Py_ssize_t n;
        const char *p = key_of(k, &n, &tmp);
        rc = p == NULL ? -1 : set_add(t, p, n);
        ostr_free(&tmp);
        Py_DECREF(k);
    }
    Py_DECREF(it);
    return rc < 0 || PyErr_Occurred() ? -1 : 0;
}

/* _Msg.load of an Exim submission's "arrived" and "erc" */
static int load_arrived(PyObject *d, jmsg *m) {
    PyObject *arrived = get(d, "arrived", 0);
    if (arrived == NULL)
        return PyErr_Occurred() ? -1 : 0;
    int rc = 0;
    if (arrived != Py_None) {
        rc = to_i64(arrived, &m->arrived);
        m->has_arrived = rc == 0;
        PyObject *erc = rc == 0 ? get(d, "erc", 0) : NULL;
        if (erc == NULL && PyErr_Occurred())
            rc = -1;
        if (erc != NULL)
            rc = load_set(&m->erc, erc);
        Py_XDECREF(erc);
    }
    Py_DECREF(arrived);
    return rc;
}

/* _Msg.load */
static jmsg *msg_load(PyObject *d) {
    PyObject *seen = get(d, "seen", 1);
    if (seen == NULL)
        return NULL;
    int64_t s;
    int rc = to_i64(seen, &s);
    Py_DECREF(seen);
    if (rc < 0)
        return NULL;
    jmsg *m = jmsg_new(s);
    if (m == NULL)
        return NULL;
    PyObject *spam = NULL, *removed = NULL, *locals = NULL, *fwds = NULL, *bounced = NULL,
             *relays = NULL;
    rc = -1;
    if (load_str(d, "client", &m->client) < 0 || load_flag(d, "loopback", &m->loopback) < 0 ||
        load_str(d, "sasl", &m->sasl) < 0 || load_jint(d, "size", &m->size) < 0 ||
        load_jint(d, "inherited_size", &m->inherited_size) < 0 ||
        load_jint(d, "nrcpt", &m->nrcpt) < 0 || load_flag(d, "out_done", &m->out_done) < 0 ||
        load_flag(d, "queued", &m->queued) < 0 || load_str(d, "msgid", &m->msgid) < 0 ||
        load_str(d, "parent", &m->parent) < 0 || load_flag(d, "filtered", &m->filtered) < 0)
        goto out;
    if ((spam = get(d, "spam", 0)) == NULL && PyErr_Occurred())
        goto out;
    if (spam != NULL && spam != Py_None) {
        int truth = PyObject_IsTrue(spam);
        if (truth < 0)
            goto out;
        m->spam = truth;
    }
    if ((removed = get(d, "removed", 0)) == NULL && PyErr_Occurred())
        goto out;
    if (removed != NULL && removed != Py_None) {
        if (to_i64(removed, &m->removed) < 0)
            goto out;
        m->has_removed = 1;
    }
    if (((locals = get(d, "locals", 0)) == NULL && PyErr_Occurred()) ||
        ((fwds = get(d, "fwds", 0)) == NULL && PyErr_Occurred()) ||
        ((bounced = get(d, "bounced", 0)) == NULL && PyErr_Occurred()) ||
        ((relays = get(d, "relays", 0)) == NULL && PyErr_Occurred()))
        goto out;
    if (load_msg_table(&m->locals, locals, 'l') < 0 || load_msg_table(&m->fwds, fwds, 'a') < 0 ||
        load_msg_table(&m->bounced, bounced, 'b') < 0 ||
        load_msg_table(&m->relays, relays, 'a') < 0)
        goto out;
    if (load_arrived(d, m) < 0)
        goto out;
    rc = 0;
out:
    Py_XDECREF(spam);
    Py_XDECREF(removed);
    Py_XDECREF(locals);
    Py_XDECREF(fwds);
    Py_XDECREF(bounced);
    Py_XDECREF(relays);
    if (rc < 0) {
        jmsg_free(m);
        return NULL;
    }
    return m;
}

/* j._msgid_index = dict(state["msgid_index"]) when the state has it (a state
 * saved before it had it keeps the index load_rows rebuilt from the messages) */
static int load_index(Joiner *j, PyObject *state) {
    PyObject *rows = get(state, "msgid_index", 0);
    if (rows == NULL)
        return PyErr_Occurred() ? -1 : 0;
    ot_clear(&j->msgid_index);
    PyObject *iter = PyObject_GetIter(rows), *item;
    Py_DECREF(rows);
    if (iter == NULL)
        return -1;
    int rc = 0;
    while (rc == 0 && (item = PyIter_Next(iter)) != NULL) {
        PyObject *seq = unpack(item, 2);
        Py_DECREF(item);
        onode *e = seq != NULL ? load_node(&j->msgid_index, ITEM(seq, 0)) : NULL;
        if (e != NULL && (e->val = calloc(1, sizeof(ostr))) == NULL)
            PyErr_NoMemory();
        if (e == NULL || e->val == NULL || to_ostr(ITEM(seq, 1), e->val) < 0)
            rc = -1;
        Py_XDECREF(seq);
    }
    Py_DECREF(iter);
    return rc < 0 || PyErr_Occurred() ? -1 : 0;
}

/* Rows [key, value…] of state[name] into table t; what as in table_rows. */
static int load_rows(Joiner *j, PyObject *state, const char *name, otable *t, char what) {
    PyObject *rows = get(state, name, 0);
    if (rows == NULL)
        return PyErr_Occurred() ? -1 : 0;
    PyObject *iter = PyObject_GetIter(rows), *item;
    Py_DECREF(rows);
    if (iter == NULL)
        return -1;
    int rc = 0;
    while (rc == 0 && (item = PyIter_Next(iter)) != NULL) {
        PyObject *seq = unpack(item, (what == 'c' || what == 'v') ? 3 : 2);
        Py_DECREF(item);
        if (seq == NULL) {
            rc = -1;
            break;
        }
        if (what == 'm') {
            /* j._msgs[qid] = m; if m.msgid: j._msgid_index[m.msgid] = qid */
            jmsg *m = msg_load(ITEM(seq, 1));
            onode *e = m ? load_node(t, ITEM(seq, 0)) : NULL;
            if (e == NULL) {
                jmsg_free(m);
                rc = -1;
            } else {
                e->val = m;
                if (m->msgid.p != NULL && m->msgid.n > 0) {
                    uint64_t h = hash_bytes(m->msgid.p, m->msgid.n);
                    onode *ix = ot_find(&j->msgid_index, m->msgid.p, m->msgid.n, h);
                    if (ix == NULL && (ix = ot_append(&j->msgid_index, m->msgid.p, m->msgid.n, h)) != NULL &&
                        (ix->val = calloc(1, sizeof(ostr))) == NULL)
                        PyErr_NoMemory();
                    if (ix == NULL || ix->val == NULL || ostr_set(ix->val, e->key, e->klen) < 0)
                        rc = -1;
                }
            }
        } else {
            onode *e = load_node(t, ITEM(seq, 0));
            if (e == NULL || to_i64(ITEM(seq, 1), &e->t) < 0) {
                rc = -1;
            } else if (what == 'v') {
                if ((e->flag = PyObject_IsTrue(ITEM(seq, 2))) < 0)
                    rc = -1;
            } else if (what == 'c') {
                /* [int(t), list(bs)] */
                PyObject *bs = PySequence_Fast(ITEM(seq, 2), "joiner state: children must be lists");
                jchildren *c = calloc(1, sizeof *c);
                if ((e->val = c) == NULL && bs != NULL)
                    PyErr_NoMemory();
                if (bs == NULL || c == NULL) {
                    rc = -1;
                } else if (PySequence_Fast_GET_SIZE(bs) > 64) {
                    PyErr_SetString(PyExc_ValueError, "joiner state: more than 64 children");
                    rc = -1;
                } else {
                    for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(bs); i++) {
                        rc = to_ostr(ITEM(bs, i), &c->b[i]);
                        c->n = i + 1;
                    }
                }
                Py_XDECREF(bs);
            }
        }
        Py_DECREF(seq);
    }
    Py_DECREF(iter);
    if (rc == 0 && PyErr_Occurred())
        rc = -1;
    return rc;
}

static int load_quota(Joiner *j, PyObject *state) {
    PyObject *d = get(state, "quota", 0);
    if (d == NULL)
        return PyErr_Occurred() ? -1 : 0;
    int rc = 0;
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "joiner state: quota must be a dict");
        rc = -1;
    }
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (rc == 0 && PyDict_Next(d, &pos, &k, &v)) {
        PyObject *seq = unpack(v, 5);
        onode *e = seq ? load_node(&j->quota, k) : NULL;
        jquota *q = e ? calloc(1, sizeof *q) : NULL;
        if (e != NULL && (e->val = q) == NULL)
            PyErr_NoMemory();
        if (q == NULL || to_ostr(ITEM(seq, 0), &q->user) < 0 || to_ostr(ITEM(seq, 1), &q->root) < 0 ||
            jint_from_py(&q->bytes, ITEM(seq, 2), 1) < 0 ||
            jint_from_py(&q->items, ITEM(seq, 3), 1) < 0 || to_i64(ITEM(seq, 4), &q->time) < 0)
            rc = -1;
        Py_XDECREF(seq);
    }
    Py_DECREF(d);
    return rc;
}

static int load_outbox(Joiner *j, PyObject *state) {
    PyObject *evs = get(state, "outbox", 0);
    if (evs == NULL)
        return PyErr_Occurred() ? -1 : 0;
    PyObject *iter = PyObject_GetIter(evs), *e;
    Py_DECREF(evs);
    if (iter == NULL)
        return -1;
    int rc = 0;
    while (rc == 0 && (e = PyIter_Next(iter)) != NULL) {
        PyObject *ev = join_event_load(e);
        Py_DECREF(e);
        if (ev == NULL || PyList_Append(j->outbox, ev) < 0)
            rc = -1;
        Py_XDECREF(ev);
    }
    Py_DECREF(iter);
    return rc == 0 && PyErr_Occurred() ? -1 : rc;
}

/* from_state() on a fresh joiner */
int join_load_state(Joiner *j, PyObject *state) {
    int truth = PyObject_IsTrue(state);
    if (truth <= 0)
        return truth; /* `if not state: return j` */
    PyObject *version = get(state, "version", 0);
    if (version == NULL && PyErr_Occurred())
        return -1;
    PyObject *one = PyLong_FromLong(STATE_VERSION);
    int ne = one ? PyObject_RichCompareBool(version ? version : Py_None, one, Py_NE) : -1;
    Py_XDECREF(one);
    if (ne != 0) {
        if (ne > 0)
            PyErr_Format(PyExc_ValueError, "joiner state version %R is not supported",
                         version ? version : Py_None);
        Py_XDECREF(version);
        return -1;
    }
    Py_XDECREF(version);
    PyObject *now = get(state, "now", 1), *ns = now ? get(state, "next_sweep", 1) : NULL;
    int rc = ns == NULL || to_i64(now, &j->now) < 0 || to_i64(ns, &j->next_sweep) < 0 ? -1 : 0;
    Py_XDECREF(now);
    Py_XDECREF(ns);
    if (rc < 0)
        return -1;
    if (j->now > J_TIME_LIMIT || j->now < -J_TIME_LIMIT) {
        PyErr_SetString(PyExc_OverflowError, "joiner state: now out of range");
        return -1;
    }
    PyObject *counters = get(state, "counters", 0);
    if (counters == NULL && PyErr_Occurred())
        return -1;
    if (counters != NULL) {
        static const char *const names[] = {"lines", "ok", "ignored", "unknown", "records",
                                            "events", "expired", "abandoned", "errors",
                                            "dropped"};
        PyObject *items = PyMapping_Items(counters), *it = NULL, *kv;
        Py_DECREF(counters);
        if (items == NULL || (it = PyObject_GetIter(items)) == NULL)
            rc = -1;
        while (rc == 0 && (kv = PyIter_Next(it)) != NULL) {
            PyObject *seq = unpack(kv, 2);
            Py_DECREF(kv);
            if (seq == NULL) {
                rc = -1;
                break;
            }
            for (int i = 0; i < J_N_COUNTERS; i++) {
                PyObject *k = ITEM(seq, 0);
                if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, names[i]) == 0) {
                    /* clamped into [0, join.COUNTER_MAX]: counted on in int64,
                     * a crafted counter must not wrap (join.Joiner.from_state) */
                    PyObject *n = PyNumber_Long(ITEM(seq, 1));
                    int overflow = 0;
                    long long v = n == NULL ? -1 : PyLong_AsLongLongAndOverflow(n, &overflow);
                    Py_XDECREF(n);
                    if (n == NULL || (v == -1 && PyErr_Occurred()))
                        rc = -1;
                    else if (overflow > 0 || v > J_COUNTER_MAX)
                        *join_counter(j, i) = J_COUNTER_MAX;
                    else
                        *join_counter(j, i) = overflow < 0 || v < 0 ? 0 : v;
                }
            }
            Py_DECREF(seq);
        }
        Py_XDECREF(it);
        Py_XDECREF(items);
        if (rc < 0 || PyErr_Occurred())
            return -1;
    }
    if (load_rows(j, state, "msgs", &j->msgs, 'm') < 0 || load_index(j, state) < 0 ||
        load_rows(j, state, "held", &j->held, 't') < 0 ||
        load_rows(j, state, "children", &j->children, 'c') < 0 ||
        load_rows(j, state, "pending_verdicts", &j->pending_verdicts, 'v') < 0 ||
        load_rows(j, state, "pending_junk", &j->pending_junk, 't') < 0 ||
        load_rows(j, state, "done", &j->done, 't') < 0 ||
        load_rows(j, state, "sieve_fwd", &j->sieve_fwd, 't') < 0 || load_quota(j, state) < 0)
        return -1;
    join_recount(j);
    j->held_rcpts = 0; /* join._rcpts, _bytes: derived from the messages */
    j->held_bytes = 0;
    for (onode *e = j->msgs.head; e != NULL; e = e->next) {
        jmsg *m = e->val;
        j->held_rcpts += jmsg_held(m);
        m->weight = jmsg_measure(m);
        j->held_bytes += m->weight;
    }
    PyObject *qd = get(state, "quota_done", 0);
    if (qd == NULL && PyErr_Occurred())
        return -1;
    if (qd != NULL) {
        rc = load_set(&j->quota_done, qd);
        Py_DECREF(qd);
        if (rc < 0)
            return -1;
    }
    PyObject *qt = get(state, "quota_time", 0);
    if (qt == NULL && PyErr_Occurred())
        return -1;
    if (qt != NULL) {
        rc = to_i64(qt, &j->quota_time);
        Py_DECREF(qt);
        if (rc < 0)
            return -1;
    }
    return load_outbox(j, state);
}
