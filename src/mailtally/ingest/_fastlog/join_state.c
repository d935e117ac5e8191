/* Part of the C twin of mailtally.ingest.join (the Python module is the
 * reference): the messages in flight and the helpers of Joiner (_msg, _drop,
 * _bounded, _sweep, _expire, _credit, _finish, _relay_receipts, _is_filter,
 * _link), in the order of join.py.  See join.h for the conventions. */
#include "join.h"

/* -- values of the tables -------------------------------------------------------------- */

void jlocal_free(void *v) {
    jlocal *l = v;
    ostr_free(&l->to);
    ostr_free(&l->orig);
    free(l);
}

void jaddr_free(void *v) {
    jaddr *a = v;
    ostr_free(&a->addr);
    free(a);
}

void ostr_box_free(void *v) {
    ostr_free((ostr *)v);
    free(v);
}

void jchildren_free(void *v) {
    jchildren *c = v;
    for (Py_ssize_t i = 0; i < c->n; i++)
        ostr_free(&c->b[i]);
    free(c);
}

/* the bytes of the queue ids a _children entry lists (otable.val_bytes) */
size_t jchildren_bytes(const void *v) {
    const jchildren *c = v;
    size_t n = 0;
    for (Py_ssize_t i = 0; i < c->n; i++)
        n += (size_t)ostr_len(&c->b[i]);
    return n;
}

/* _Table.size of children and quota after a load (the others count their keys) */
void join_recount(Joiner *j) {
    j->children.bytes = 0;
    for (const onode *e = j->children.head; e != NULL; e = e->next)
        j->children.bytes += (size_t)e->klen + (e->val ? jchildren_bytes(e->val) : 0);
    j->quota.bytes = 0;
    for (const onode *e = j->quota.head; e != NULL; e = e->next) {
        const jquota *q = e->val;
        j->quota.bytes += (size_t)e->klen + (q ? (size_t)(ostr_len(&q->user) + ostr_len(&q->root)) : 0);
    }
}

void jquota_free(void *v) {
    jquota *q = v;
    ostr_free(&q->user);
    ostr_free(&q->root);
    jint_clear(&q->bytes);
    jint_clear(&q->items);
    free(q);
}

jmsg *jmsg_new(int64_t seen) {
    jmsg *m = calloc(1, sizeof *m);
    if (m == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    m->seen = seen;
    m->spam = -1;
    ot_init(&m->locals, jlocal_free);
    ot_init(&m->fwds, jaddr_free);
    ot_init(&m->bounced, jlocal_free);
    ot_init(&m->relays, jaddr_free);
    ot_init(&m->erc, NULL);
    return m;
}

void jmsg_free(void *v) {
    jmsg *m = v;
    if (m == NULL)
        return;
    ostr_free(&m->client);
    ostr_free(&m->sasl);
    ostr_free(&m->msgid);
    ostr_free(&m->parent);
    jint_clear(&m->size);
    jint_clear(&m->inherited_size);
    jint_clear(&m->nrcpt);
    ot_dealloc(&m->locals);
    ot_dealloc(&m->fwds);
    ot_dealloc(&m->bounced);
    ot_dealloc(&m->relays);
    ot_dealloc(&m->erc);
    free(m);
}

static inline int truthy(const ostr *o) { return o->p != NULL && o->n > 0; }

/* -- helpers --------------------------------------------------------------------------- */

/* _msg: the message qid in flight, created if new; marked as just seen. */
jmsg *join_msg(Joiner *j, const char *qid, Py_ssize_t n) {
    uint64_t h = hash_bytes(qid, n);
    onode *e = ot_find(&j->msgs, qid, n, h);
    if (e != NULL) {
        jmsg *m = e->val;
        m->seen = j->now;
        ot_move_to_end(&j->msgs, e);
        return m;
    }
    jmsg *m = jmsg_new(j->now);
    if (m == NULL)
        return NULL;
    e = ot_append(&j->msgs, qid, n, h);
    if (e == NULL) {
        jmsg_free(m);
        return NULL;
    }
    e->val = m;
    if (j->done.n) {
        onode *d = ot_find(&j->done, qid, n, h);
        if (d != NULL)
            ot_del(&j->done, d);
    }
    onode *pv = j->pending_verdicts.n ? ot_find(&j->pending_verdicts, qid, n, h) : NULL;
    if (pv != NULL) {
        int spam = pv->flag;
        ot_del(&j->pending_verdicts, pv);
        join_set_spam(m, spam);
    }
    /* the oldest, never the new one (it is last and there are two or more) */
    if (j->msgs.n > (size_t)j->max_entries && join_expire_oldest(j) < 0)
        return NULL; /* the handler stops here, m stays in the table */
    return m;
}

/* _set_spam: any filter saying spam wins; ham only fills an unknown verdict. */
void join_set_spam(jmsg *m, int spam) {
    if (spam)
        m->spam = 1;
    else if (m->spam < 0)
        m->spam = 0;
}

/* _bounded: table[key] = value (an existing key keeps its node), move_to_end, and
 * popitem(last=False) past max_entries.  The caller stores the value in the node. */
onode *join_bounded(Joiner *j, otable *t, const char *k, Py_ssize_t n, int64_t tval) {
    return join_bounded_with(j, t, k, n, tval, 0);
}

/* join_bounded, a new entry's value holding `extra` bytes (a _children entry's b) */
onode *join_bounded_with(Joiner *j, otable *t, const char *k, Py_ssize_t n, int64_t tval,
                         size_t extra) {
    uint64_t h = hash_bytes(k, n);
    onode *e = ot_find(t, k, n, h);
    if (e == NULL) {
        e = ot_append(t, k, n, h);
        if (e == NULL)
            return NULL;
        t->bytes += extra;
    } else {
        ot_move_to_end(t, e);
    }
    e->t = tval;
    if (t->n > (size_t)j->max_entries)
        ot_del(t, t->head); /* not e: e is last, and n >= 2 */
    join_trim(j, t); /* not e either: one entry is far below the bound */
    return e;
}

/* _trim: the oldest entries go while the table holds more than J_MAX_TABLE_BYTES */
void join_trim(Joiner *j, otable *t) {
    /* never the last entry: join_bounded's caller stores its value in it (a record
     * handed to add() may hold a key over the bound alone) */
    while (t->bytes > J_MAX_TABLE_BYTES && t->n > 1)
        ot_del(t, t->head);
}

/* _drop: forget the message (and its hold); its qid is done.  *out = the message,
 * now the caller's (jmsg_free), or NULL if there was none; even when this fails
 * (MemoryError), *out is set and the caller frees it. */
int join_drop(Joiner *j, const char *qid, Py_ssize_t n, jmsg **out) {
    /* qid may be the key of a node freed below: keep a copy */
    tbuf q;
    tb_init(&q);
    *out = NULL;
    if (tb_set(&q, qid, n) < 0)
        return -1;
    qid = q.p;
    uint64_t h = hash_bytes(qid, n);
    onode *e = ot_find(&j->msgs, qid, n, h);
    jmsg *m = NULL;
    if (e != NULL) {
        m = e->val;
        e->val = NULL;
        ot_del(&j->msgs, e);
        if (m != NULL) {
            j->held_rcpts -= jmsg_held(m);
            j->held_bytes -= m->weight;
        }
    }
    *out = m;
    onode *hd = j->held.n ? ot_find(&j->held, qid, n, h) : NULL;
    if (hd != NULL)
        ot_del(&j->held, hd);
    if (m != NULL && truthy(&m->msgid)) {
        tbuf ik; /* _beside(qid, m.msgid): the index is per host */
        tb_init(&ik);
        if (join_beside(qid, n, m->msgid.p, m->msgid.n, &ik) < 0) {
            tb_free(&q);
            return -1;
        }
        onode *ix = ot_get(&j->msgid_index, ik.p, ik.n);
        if (ix != NULL && ostr_eq((ostr *)ix->val, qid, n))
            ot_del(&j->msgid_index, ix);
        tb_free(&ik);
    }
    int rc = join_bounded(j, &j->done, qid, n, j->now) ? 0 : -1;
    tb_free(&q);
    return rc;
}

/* _sweep: expire what is too old; runs at most once every SWEEP_EVERY seconds. */
int join_sweep(Joiner *j) {
    int64_t now = j->now;
    j->next_sweep = now + SWEEP_EVERY;
    tbuf k;
    tb_init(&k);
    int rc = 0;
    while (j->held.n) {
        onode *e = j->held.head;
        if (e->t > now)
            break;
        if ((rc = tb_set(&k, e->key, e->klen)) < 0)
            goto out;
        ot_del(&j->held, e);
        if ((rc = join_finish(j, k.p, k.n)) < 0)
            goto out;
    }
    int64_t cutoff = now - j->max_age;
    while (j->msgs.n) {
        onode *e = j->msgs.head;
        if (((jmsg *)e->val)->seen >= cutoff)
            break;
        if ((rc = tb_set(&k, e->key, e->klen)) < 0 || (rc = join_expire(j, k.p, k.n)) < 0)
            goto out;
    }
    otable *tables[] = {&j->pending_verdicts, &j->children, &j->pending_junk, &j->done,
                        &j->sieve_fwd};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        otable *t = tables[i];
        while (t->n && t->head->t < cutoff)
            ot_del(t, t->head);
    }
out:
    tb_free(&k);
    return rc;
}

/* _sweep_safely: a failing sweep counts an error and is retried a second later.
 * Like `except Exception`, a BaseException (KeyboardInterrupt) goes through. */
int join_sweep_safely(Joiner *j) {
    if (join_sweep(j) == 0)
        return 0;
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
    PyErr_Clear();
    j->errors++;
    j->next_sweep = j->now + 1;
    return 0;
}

/* _shed_safely: past J_MAX_HELD_BYTES, the oldest messages are counted as they stand
 * and dropped, at the start of a line.  A failure counts an error, as in Python. */
int join_shed_safely(Joiner *j) {
    int rc = 0;
    while (j->held_bytes > J_MAX_HELD_BYTES && j->msgs.n)
        if ((rc = join_expire_oldest(j)) < 0)
            break;
    if (rc == 0)
        return 0;
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
    PyErr_Clear();
    j->errors++;
    return 0;
}

/* _Msg.measure: the bytes of the strings m holds */
Py_ssize_t jmsg_measure(const jmsg *m) {
    Py_ssize_t w = ostr_len(&m->client) + ostr_len(&m->sasl) + ostr_len(&m->msgid) +
                   ostr_len(&m->parent);
    const otable *ls[2] = {&m->locals, &m->bounced}, *as[2] = {&m->fwds, &m->relays};
    for (int i = 0; i < 2; i++) {
        for (const onode *e = ls[i]->head; e != NULL; e = e->next) {
            const jlocal *v = e->val;
            w += e->klen + ostr_len(&v->to) + ostr_len(&v->orig);
        }
        for (const onode *e = as[i]->head; e != NULL; e = e->next)
            w += e->klen + ostr_len(&((const jaddr *)e->val)->addr);
    }
    for (const onode *e = m->erc.head; e != NULL; e = e->next)
        w += e->klen;
    return w;
}

/* _expire */
/* join_expire of the oldest message in flight (the table's head).  Its key is
 * copied first: expiring frees the node that holds it. */
int join_expire_oldest(Joiner *j) {
    tbuf k;
    tb_init(&k);
    int rc = tb_set(&k, j->msgs.head->key, j->msgs.head->klen);
    if (rc == 0)
        rc = join_expire(j, k.p, k.n);
    tb_free(&k);
    return rc;
}

int join_expire(Joiner *j, const char *qid, Py_ssize_t n) {
    onode *e = ot_get(&j->msgs, qid, n);
    if (e == NULL)
        return 0;
    jmsg *m = e->val;
    if (m->queued || m->locals.n || m->fwds.n || m->bounced.n || m->relays.n)
        j->expired++;
    else
        j->abandoned++;
    return join_finish(j, qid, n);
}

/* _credit: (address to credit, grouping key) of a local receipt. */
static int credit(Joiner *j, const ostr *to, const ostr *orig, int single, tbuf *addr,
                  tbuf *gkey) {
    if (j->resolve != NULL) {
        const ostr *cands[2] = {orig, to};
        for (int i = 0; i < 2; i++) {
            const ostr *a = cands[i];
            if (!truthy(a))
                continue;
            const jresolved *r;
            if (join_strip_ext(j, a->p, a->n, addr) < 0 || join_resolve(j, addr->p, addr->n, &r) < 0)
                return -1;
            if (r->kind == RC_OTHER) {
                /* the reference calls canon.lower() on it */
                PyErr_SetString(PyExc_TypeError, "resolve returned neither a str nor None");
                return -1;
            }
            if (r->kind == RC_STR)
                return tb_set(gkey, r->lower.p, r->lower.n);
        }
    }
    const ostr *who = (truthy(orig) && single) ? orig : to;
    if (join_strip_ext(j, who->p, who->n, addr) < 0)
        return -1;
    return join_mailbox(j, to->p, to->n, truthy(orig), gkey);
}

/* _relay_receipts: relays that are receipts join the message's local receipts. */
static int relay_receipts(Joiner *j, jmsg *m) {
    int inbound = !truthy(&m->sasl) && !m->out_done &&
                  (m->parent.p != NULL || (m->client.p != NULL && !m->loopback));
    tbuf s;
    tb_init(&s);
    int rc = 0;
    if (inbound && m->parent.p == NULL) {
        /* ... and m.client.lower() not in own_hosts: from the outside */
        if (join_lower(m->client.p, m->client.n, &s) < 0) {
            tb_free(&s);
            return -1;
        }
        if (set_has(&j->own_hosts, s.p, s.n))
            inbound = 0;
    }
    for (onode *e = m->relays.head; e != NULL; e = e->next) {
        if (ot_find(&m->locals, e->key, e->klen, e->hash) != NULL)
            continue;
        const ostr *to = &((jaddr *)e->val)->addr;
        int ok = inbound;
        if (!ok && j->resolve != NULL) {
            const jresolved *r;
            if ((rc = join_strip_ext(j, to->p, to->n, &s)) < 0 ||
                (rc = join_resolve(j, s.p, s.n, &r)) < 0)
                break;
            ok = r->kind != RC_NONE;
        }
        if (!ok)
            continue;
        jlocal *l = calloc(1, sizeof *l);
        onode *n = l ? ot_append(&m->locals, e->key, e->klen, e->hash) : NULL;
        if (n == NULL || ostr_set(&l->to, to->p, to->n) < 0) {
            if (n == NULL && l == NULL)
                PyErr_NoMemory();
            if (n != NULL)
                n->val = l;
            else
                free(l);
            rc = -1;
            break;
        }
        n->val = l;
        n->t = e->t;
        n->flag = 0;
    }
    tb_free(&s);
    return rc;
}

/* A group of _finish: [address, time, junk]; the node holds time and junk. */
static void ostr_val_free(void *v) { ostr_box_free(v); }

static onode *put_str(otable *t, const char *k, Py_ssize_t kn, const char *v, Py_ssize_t vn) {
    uint64_t h = hash_bytes(k, kn);
    onode *e = ot_find(t, k, kn, h);
    if (e == NULL && (e = ot_append(t, k, kn, h)) == NULL)
        return NULL;
    ostr *o = e->val;
    if (o == NULL) {
        o = calloc(1, sizeof *o);
        if (o == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        e->val = o;
    }
    return ostr_set(o, v, vn) < 0 ? NULL : e;
}

/* The grouping of _finish for the general case (several receipts, forwards or
 * failures); fan, groups and aliases are the reference's dicts. */
static int finish_groups(Joiner *j, jmsg *m, const jint *size, int spam) {
    otable fan, groups, aliases;
    ot_init(&fan, NULL);
    ot_init(&groups, ostr_val_free);
    ot_init(&aliases, ostr_val_free);
    tbuf k, addr, gkey;
    tb_init(&k);
    tb_init(&addr);
    tb_init(&gkey);
    int rc = -1;
    onode *e, *g;
    /* how many mailboxes each orig_to expands to in this message */
    for (e = m->locals.head; e != NULL; e = e->next) {
        jlocal *l = e->val;
        if (!truthy(&l->orig))
            continue;
        if (join_norm(j, l->orig.p, l->orig.n, &k) < 0)
            goto out;
        uint64_t h = hash_bytes(k.p, k.n);
        onode *f = ot_find(&fan, k.p, k.n, h);
        if (f == NULL && (f = ot_append(&fan, k.p, k.n, h)) == NULL)
            goto out;
        f->t++;
    }
    for (e = m->locals.head; e != NULL; e = e->next) {
        jlocal *l = e->val;
        int single = 0;
        if (truthy(&l->orig)) {
            if (join_norm(j, l->orig.p, l->orig.n, &k) < 0)
                goto out;
            onode *f = ot_get(&fan, k.p, k.n);
            single = f != NULL && f->t == 1;
        }
        if (credit(j, &l->to, &l->orig, single, &addr, &gkey) < 0)
            goto out;
        g = ot_get(&groups, gkey.p, gkey.n);
        if (g == NULL) {
            if ((g = put_str(&groups, gkey.p, gkey.n, addr.p, addr.n)) == NULL)
                goto out;
            g->t = e->t;
            g->flag = e->flag;
        } else {
            if (e->t < g->t)
                g->t = e->t;
            g->flag = g->flag || e->flag;
        }
        if (put_str(&aliases, e->key, e->klen, gkey.p, gkey.n) == NULL)
            goto out;
        if (single && put_str(&aliases, k.p, k.n, gkey.p, gkey.n) == NULL)
            goto out; /* k: _norm(orig), computed above */
    }
    for (e = m->fwds.head; e != NULL; e = e->next) {
        const ostr *a = &((jaddr *)e->val)->addr;
        onode *al = ot_get(&aliases, e->key, e->klen);
        int have = 0;
        if (al != NULL) {
            const ostr *o = al->val;
            if (tb_set(&gkey, o->p, o->n) < 0)
                goto out;
            have = 1;
        } else if (j->resolve != NULL) {
            const jresolved *r;
            if (join_strip_ext(j, a->p, a->n, &k) < 0 || join_resolve(j, k.p, k.n, &r) < 0)
                goto out;
            if (r->kind == RC_OTHER) {
                PyErr_SetString(PyExc_TypeError, "resolve returned neither a str nor None");
                goto out;
            }
            if (r->kind == RC_STR) {
                if (tb_set(&gkey, r->lower.p, r->lower.n) < 0)
                    goto out;
                have = 1;
            }
        }
        if (!have && tb_set(&gkey, e->key, e->klen) < 0)
            goto out;
        g = ot_get(&groups, gkey.p, gkey.n);
        if (g == NULL) {
            if (join_strip_ext(j, a->p, a->n, &addr) < 0 ||
                (g = put_str(&groups, gkey.p, gkey.n, addr.p, addr.n)) == NULL)
                goto out;
            g->t = e->t;
            g->flag = 0;
        } else if (e->t < g->t) {
            g->t = e->t;
        }
    }
    for (g = groups.head; g != NULL; g = g->next) {
        const ostr *a = g->val;
        if (join_emit(j, ev_message_in(g->t, a->p, a->n, size, spam || g->flag)) < 0)
            goto out;
    }
    for (e = m->bounced.head; e != NULL; e = e->next) {
        if (ot_get(&aliases, e->key, e->klen) != NULL)
            continue;
        jlocal *l = e->val;
        if (credit(j, &l->to, &l->orig, truthy(&l->orig), &addr, &gkey) < 0)
            goto out;
        if (ot_get(&groups, gkey.p, gkey.n) != NULL)
            continue;
        if ((g = put_str(&groups, gkey.p, gkey.n, addr.p, addr.n)) == NULL)
            goto out;
        g->t = e->t;
        if (join_emit(j, ev_denied(e->t, addr.p, addr.n)) < 0)
            goto out;
    }
    rc = 0;
out:
    tb_free(&k);
    tb_free(&addr);
    tb_free(&gkey);
    ot_dealloc(&fan);
    ot_dealloc(&groups);
    ot_dealloc(&aliases);
    return rc;
}

/* _finish: emit the receipts and local failures of a message and forget it. */
int join_finish(Joiner *j, const char *qid, Py_ssize_t n) {
    jmsg *m;
    int rc = join_drop(j, qid, n, &m);
    if (m == NULL || rc < 0)
        goto out;
    if (m->relays.n && (rc = relay_receipts(j, m)) < 0)
        goto out;
    if (!(m->locals.n || m->fwds.n || m->bounced.n || m->has_arrived))
        goto out;
    /* size = inherited_size if not None else (size or 0); max(0, size) */
    jint size = {1, 0, NULL};
    if (m->inherited_size.has)
        jint_max0(&size, &m->inherited_size);
    else if (m->size.has)
        jint_max0(&size, &m->size);
    if (m->has_arrived && truthy(&m->sasl) && !m->out_done) {
        /* an Exim submission whose recipients were not logged at its "<=" line */
        jint nr = {1, (int64_t)m->erc.n, NULL};
        if ((rc = join_emit(j, ev_message_out(m->arrived, &m->sasl, &nr, &size))) < 0) {
            jint_clear(&size);
            goto out;
        }
    }
    if (!(m->locals.n || m->fwds.n || m->bounced.n)) {
        jint_clear(&size);
        goto out;
    }
    int spam = m->spam > 0;
    if (m->locals.n == 1 && !m->fwds.n && !m->bounced.n) {
        /* the common case, one mailbox: no grouping to do */
        onode *e = m->locals.head;
        jlocal *l = e->val;
        tbuf addr, gkey;
        tb_init(&addr);
        tb_init(&gkey);
        rc = credit(j, &l->to, &l->orig, truthy(&l->orig), &addr, &gkey);
        if (rc == 0)
            rc = join_emit(j, ev_message_in(e->t, addr.p, addr.n, &size, spam || e->flag));
        tb_free(&addr);
        tb_free(&gkey);
    } else {
        rc = finish_groups(j, m, &size, spam);
    }
    jint_clear(&size);
out:
    jmsg_free(m);
    return rc;
}

/* _is_filter: is this delivery a hand-off to a content filter? */
int join_is_filter(Joiner *j, const fl_delivery *d, fl_str ip, fl_str port) {
    /* port digits as int() then str() would write them: without leading zeros */
    const char *pd = port.p;
    Py_ssize_t pn = port.n;
    if (pd != NULL)
        while (pn > 1 && *pd == '0')
            pd++, pn--;
    if (j->filter_relays.n) {
        tbuf r;
        tb_init(&r);
        if (join_lower(d->relay.p, d->relay.n, &r) < 0)
            return -1;
        Py_ssize_t hn = 0;
        while (hn < r.n && r.p[hn] != '[')
            hn++;
        int hit = set_has(&j->filter_relays, r.p, r.n) || set_has(&j->filter_relays, r.p, hn);
        if (!hit && ip.n > 0) {
            hit = set_has(&j->filter_relays, ip.p, ip.n);
            if (!hit && pd != NULL) { /* f"{ip}:{port}" */
                if (tb_reserve(&r, ip.n + 1 + pn) == NULL)
                    return -1;
                memcpy(r.p, ip.p, (size_t)ip.n);
                r.p[ip.n] = ':';
                memcpy(r.p + ip.n + 1, pd, (size_t)pn);
                hit = set_has(&j->filter_relays, r.p, ip.n + 1 + pn);
            }
        }
        tb_free(&r);
        if (hit)
            return 1;
    }
    static const char mta[] = "from MTA(";
    /* not on port 25: an outside server's answer (why: join.py _is_filter) */
    int port25 = pd != NULL && pn == 2 && pd[0] == '2' && pd[1] == '5';
    for (Py_ssize_t i = 0; !port25 && i + 9 <= d->response.n; i++)
        if (d->response.p[i] == 'f' && memcmp(d->response.p + i, mta, 9) == 0)
            return 1;
    if (ip.n > 0 && join_loopback(ip.p, ip.n))
        return d->queued_as.n > 0 || (pd != NULL && set_has(&j->filter_ports, pd, pn));
    return 0;
}

/* _filter_answer: what the filter's log id (its answer's "(ID)") was re-injected as
 * continues qid.  The children are copied first: linking may trim the table. */
int join_filter_answer(Joiner *j, fl_str qid, fl_str response) {
    fl_str logid = join_filter_id(response);
    if (logid.n == 0)
        return 0;
    onode *ch = ot_get(&j->children, logid.p, logid.n);
    if (ch == NULL)
        return 0;
    const jchildren *c = ch->val;
    Py_ssize_t n = c->n, total = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        total += c->b[i].n;
    char *buf = malloc((size_t)total + 1);
    Py_ssize_t *lens = malloc(sizeof *lens * (size_t)(n ? n : 1));
    if (buf == NULL || lens == NULL) {
        free(buf);
        free(lens);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(buf + at, c->b[i].p, (size_t)c->b[i].n);
        lens[i] = c->b[i].n;
        at += c->b[i].n;
    }
    int rc = 0;
    at = 0;
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        rc = join_link(j, qid, (fl_str){buf + at, lens[i]}, 1);
        at += lens[i];
    }
    free(buf);
    free(lens);
    return rc;
}

/* _link: message b continues message a (content filter re-injection). */
int join_link(Joiner *j, fl_str a, fl_str b, int answered) {
    if (a.p == NULL || a.n == 0 || b.p == NULL || b.n == 0 || bytes_eq(a.p, a.n, b.p, b.n))
        return 0;
    onode *ch = ot_get(&j->children, a.p, a.n);
    if (ch == NULL) {
        jchildren *c = calloc(1, sizeof *c);
        if (c == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        if (ostr_set(&c->b[0], b.p, b.n) < 0) {
            free(c);
            return -1;
        }
        c->n = 1;
        /* (b's bytes are counted with the key's, before the table is trimmed: as
         * _bounded counts the whole entry) */
        onode *e = join_bounded_with(j, &j->children, a.p, a.n, j->now, (size_t)b.n);
        if (e == NULL) {
            jchildren_free(c);
            return -1;
        }
        e->val = c;
    } else {
        jchildren *c = ch->val;
        Py_ssize_t i;
        for (i = 0; i < c->n; i++)
            if (ostr_eq(&c->b[i], b.p, b.n))
                break;
        if (i == c->n && c->n < 64) {
            if (ostr_set(&c->b[c->n], b.p, b.n) < 0)
                return -1;
            c->n++;
            j->children.bytes += (size_t)b.n;
            join_trim(j, &j->children);
        }
    }
    onode *eb = ot_get(&j->msgs, b.p, b.n);
    jmsg *mb;
    if (eb == NULL) {
        if (ot_get(&j->done, b.p, b.n) != NULL)
            return 0; /* b was already counted: too late to carry anything over */
        if ((mb = join_msg(j, b.p, b.n)) == NULL)
            return -1;
    } else {
        mb = eb->val;
    }
    if (!ostr_eq(&mb->parent, a.p, a.n)) {
        Py_ssize_t old = ostr_len(&mb->parent);
        if (ostr_set(&mb->parent, a.p, a.n) < 0)
            return -1;
        join_grow(j, mb, a.n - old);
        onode *ea = ot_get(&j->msgs, a.p, a.n);
        if (ea != NULL) {
            jmsg *ma = ea->val;
            if (truthy(&ma->sasl) && !truthy(&mb->sasl)) {
                old = ostr_len(&mb->sasl);
                if (ostr_set(&mb->sasl, ma->sasl.p, ma->sasl.n) < 0)
                    return -1;
                join_grow(j, mb, ma->sasl.n - old);
            }
            if (truthy(&ma->sasl) || ma->out_done)
                mb->out_done = 1;
            const jint *size = ma->inherited_size.has ? &ma->inherited_size : &ma->size;
            if (size->has)
                jint_copy(&mb->inherited_size, size);
            if (ma->spam >= 0)
                join_set_spam(mb, ma->spam);
        } else {
            onode *pv = ot_get(&j->pending_verdicts, a.p, a.n);
            if (pv != NULL)
                join_set_spam(mb, pv->flag);
        }
        if (truthy(&mb->sasl))
            mb->out_done = 1;
    }
    if (answered)
        mb->filtered = 1;
    if (mb->has_removed && mb->filtered)
        return join_finish(j, b.p, b.n); /* it was held for this answer */
    return 0;
}
