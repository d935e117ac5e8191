/* Part of the C twin of mailtally.ingest.join (the Python module is the
 * reference): one function per handler of Joiner (_smtpd -> join_smtpd …), in
 * the order of join.py, and join_handle, the twin of Joiner._handlers. */
#include "join.h"

#include <stddef.h>

static inline int truthy_s(fl_str s) { return s.p != NULL && s.n > 0; }
static inline int truthy(const ostr *o) { return o->p != NULL && o->n > 0; }
static inline int is_lit(fl_str s, const char *lit) {
    return s.p != NULL && bytes_eq(s.p, s.n, lit, (Py_ssize_t)strlen(lit));
}

/* jint of an int64 field, or of the Python int the Python path passed (borrowed) */
static inline jint side_int(int64_t v, const jside *side, int i) {
    jint x = {1, v, NULL};
    if (side != NULL && side->big[i] != NULL)
        x.big = side->big[i];
    return x;
}

/* max(0, x) into a fresh jint of the caller (jint_clear it) */
static inline jint max0(const jint *x) {
    jint r = {0, 0, NULL};
    jint_max0(&r, x);
    return r;
}

static int join_handle_record(Joiner *j, const fl_record *r, const jside *side, int64_t t);
static int join_blocked(Joiner *j, fl_str qid, fl_str category, const fl_str *rcpts, int nr,
                        const fl_str *flags, int nf, int64_t t);

static int join_smtpd(Joiner *j, const fl_smtpd_client *r, int64_t t) {
    jmsg *m = join_msg(j, r->qid.p, r->qid.n);
    if (m == NULL)
        return -1;
    Py_ssize_t old = ostr_len(&m->client);
    if (ostr_set(&m->client, r->client_ip.p, r->client_ip.n) < 0)
        return -1;
    join_grow(j, m, ostr_len(&m->client) - old);
    m->loopback = r->client_ip.p != NULL && join_loopback(r->client_ip.p, r->client_ip.n);
    if (truthy_s(r->sasl_username) && !truthy(&m->sasl)) {
        old = ostr_len(&m->sasl);
        if (ostr_set(&m->sasl, r->sasl_username.p, r->sasl_username.n) < 0)
            return -1;
        join_grow(j, m, r->sasl_username.n - old);
    }
    if (truthy_s(r->orig_qid))
        return join_link(j, r->orig_qid, r->qid, 0);
    return 0;
}

/* r.uid in self.webmail_uids: the set holds the decimal form of its ints */
static int webmail_uid(Joiner *j, int64_t uid, PyObject *big) {
    if (j->webmail_uids.n == 0)
        return 0;
    if (big == NULL) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%lld", (long long)uid);
        return set_has(&j->webmail_uids, buf, n);
    }
    PyObject *s = PyObject_Str(big);
    if (s == NULL)
        return -1;
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    int r = p == NULL ? -1 : set_has(&j->webmail_uids, p, n);
    Py_DECREF(s);
    return r;
}

static int join_pickup(Joiner *j, const fl_pickup *r, const jside *side, int64_t t) {
    jmsg *m = join_msg(j, r->qid.p, r->qid.n);
    if (m == NULL)
        return -1;
    int w = webmail_uid(j, r->uid, side ? side->big[0] : NULL);
    if (w < 0)
        return -1;
    if (w && truthy_s(r->sender) && !truthy(&m->sasl)) {
        Py_ssize_t old = ostr_len(&m->sasl);
        if (ostr_set(&m->sasl, r->sender.p, r->sender.n) < 0)
            return -1;
        join_grow(j, m, r->sender.n - old);
    }
    return 0;
}

/* self._msgid_index[ik] = qid */
static int index_put(Joiner *j, fl_str ik, fl_str qid) {
    uint64_t h = hash_bytes(ik.p, ik.n);
    onode *e = ot_find(&j->msgid_index, ik.p, ik.n, h);
    if (e == NULL) {
        ostr *q = calloc(1, sizeof *q);
        if (q == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        e = ot_append(&j->msgid_index, ik.p, ik.n, h);
        if (e == NULL) {
            free(q);
            return -1;
        }
        e->val = q;
    }
    return ostr_set(e->val, qid.p, qid.n);
}

static int join_cleanup(Joiner *j, const fl_cleanup_msgid *r, int64_t t) {
    jmsg *m = join_msg(j, r->qid.p, r->qid.n);
    if (m == NULL)
        return -1;
    if (!truthy_s(r->message_id))
        return 0;
    Py_ssize_t old = ostr_len(&m->msgid);
    if (ostr_set(&m->msgid, r->message_id.p, r->message_id.n) < 0)
        return -1;
    join_grow(j, m, r->message_id.n - old);
    /* self._msgid_index[self._k(msgid)] = qid (a plain dict: order does not matter) */
    tbuf b;
    tb_init(&b);
    fl_str ik;
    int rc = join_k(j, r->message_id, &b, &ik);
    if (rc == 0)
        rc = index_put(j, ik, r->qid);
    tb_free(&b);
    return rc;
}

static int join_qmgr(Joiner *j, const fl_qmgr_from *r, const jside *side, int64_t t) {
    jmsg *m = join_msg(j, r->qid.p, r->qid.n);
    if (m == NULL)
        return -1;
    jint size = side_int(r->size, side, 0), nrcpt = side_int(r->nrcpt, side, 1);
    m->queued = 1;
    if (!m->size.has) {
        jint_max0(&m->size, &size);
        jint_max0(&m->nrcpt, &nrcpt);
    }
    if (truthy(&m->sasl) && !m->out_done) {
        m->out_done = 1;
        jint n0 = max0(&nrcpt), s0 = max0(&size);
        int rc = join_emit(j, ev_message_out(t, &m->sasl, &n0, &s0));
        jint_clear(&n0);
        jint_clear(&s0);
        return rc;
    }
    return 0;
}

static int join_removed(Joiner *j, const fl_qid_only *r, int64_t t) {
    onode *e = ot_get(&j->msgs, r->qid.p, r->qid.n);
    if (e == NULL)
        return 0;
    jmsg *m = e->val;
    m->has_removed = 1;
    m->removed = t;
    if (m->loopback && !m->filtered && (m->parent.p != NULL || !truthy(&m->sasl)) &&
        j->reinject_grace && (m->locals.n || m->fwds.n || m->bounced.n || m->relays.n)) {
        /* Possibly a content filter's re-injection whose "queued as" line is still to
         * come: wait for it a little before counting (module docstring).  The hold
         * table is not bounded (the reference's is a plain assignment). */
        m->seen = j->now;
        ot_move_to_end(&j->msgs, e);
        uint64_t h = hash_bytes(r->qid.p, r->qid.n);
        onode *hd = ot_find(&j->held, r->qid.p, r->qid.n, h);
        if (hd == NULL && (hd = ot_append(&j->held, r->qid.p, r->qid.n, h)) == NULL)
            return -1;
        hd->t = j->now + j->reinject_grace;
        ot_move_to_end(&j->held, hd);
        return 0;
    }
    return join_finish(j, r->qid.p, r->qid.n);
}

/* table[key] = [addr, t] for fwds / relays (the key is absent) */
static int put_addr(Joiner *j, jmsg *m, otable *tb, const char *k, Py_ssize_t kn, fl_str a,
                    int64_t t) {
    jaddr *v = calloc(1, sizeof *v);
    if (v == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    onode *e = ot_append(tb, k, kn, hash_bytes(k, kn));
    if (e == NULL) {
        free(v);
        return -1;
    }
    e->val = v;
    e->t = t;
    if (ostr_set(&v->addr, a.p, a.n) < 0)
        return -1;
    join_grow(j, m, kn + ostr_len(&v->addr));
    return 0;
}

/* table[key] = [to, orig, t(, False)] for locals / bounced (the key is absent) */
static onode *put_local(Joiner *j, jmsg *m, otable *tb, const char *k, Py_ssize_t kn, fl_str to,
                        fl_str orig, int64_t t) {
    jlocal *v = calloc(1, sizeof *v);
    if (v == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    onode *e = ot_append(tb, k, kn, hash_bytes(k, kn));
    if (e == NULL) {
        free(v);
        return NULL;
    }
    e->val = v;
    e->t = t;
    e->flag = 0;
    if (ostr_set(&v->to, to.p, to.n) < 0 || ostr_set(&v->orig, orig.p, orig.n) < 0)
        return NULL;
    join_grow(j, m, kn + ostr_len(&v->to) + ostr_len(&v->orig));
    return e;
}

/* self._pending_junk.pop(key, None) is not None */
static int pop_junk(Joiner *j, const char *k, Py_ssize_t n) {
    onode *e = ot_get(&j->pending_junk, k, n);
    if (e == NULL)
        return 0;
    ot_del(&j->pending_junk, e);
    return 1;
}

/* key = a + "\0" + b (or "s:" + b when a is NULL) in *out */
static int join_key(tbuf *out, const char *a, Py_ssize_t an, const char *b, Py_ssize_t bn) {
    Py_ssize_t pre = a ? an + 1 : 2;
    char *d = tb_reserve(out, pre + bn);
    if (d == NULL)
        return -1;
    if (a) {
        memcpy(d, a, (size_t)an);
        d[an] = 0;
    } else {
        d[0] = 's';
        d[1] = ':';
    }
    memcpy(d + pre, b, (size_t)bn);
    out->n = pre + bn;
    return 0;
}

/* _full: 1 if m holds J_MAX_HELD_RECIPIENTS recipients (the one about to be added is
 * dropped, and counted); else 0, and the caller adds it: room is made for it first
 * under J_MAX_HELD_TOTAL by expiring the oldest messages (never m: it is last and
 * holds fewer).  -1 with an exception if an expiry failed (nothing is added). */
static int held_full(Joiner *j, const jmsg *m) {
    if (jmsg_held(m) >= J_MAX_HELD_RECIPIENTS) {
        j->dropped++;
        return 1;
    }
    while (j->held_rcpts >= J_MAX_HELD_TOTAL && j->msgs.n)
        if (join_expire_oldest(j) < 0)
            return -1;
    j->held_rcpts++;
    return 0;
}

/* What a delivery line holds, for Postfix's lines and Exim's alike (join.py's _hold_*). */

/* _hold_forward: orig's mail handed to another host as to (k1, k2: scratch) */
static int hold_forward(Joiner *j, jmsg *m, fl_str orig, fl_str to, int64_t t, tbuf *k1,
                        tbuf *k2) {
    if (join_norm(j, orig.p, orig.n, k1) < 0 || join_norm(j, to.p, to.n, k2) < 0)
        return -1;
    if (bytes_eq(k1->p, k1->n, k2->p, k2->n) || ot_get(&m->fwds, k1->p, k1->n))
        return 0;
    int full = held_full(j, m);
    if (full)
        return full < 0 ? -1 : 0;
    if (put_addr(j, m, &m->fwds, k1->p, k1->n, orig, t) < 0 ||
        join_strip_ext(j, orig.p, orig.n, k2) < 0)
        return -1;
    return join_emit(j, ev_forward(t, k2->p, k2->n));
}

/* _hold_relay: a relay of to to another host (a receipt or not: decided in _finish) */
static int hold_relay(Joiner *j, jmsg *m, fl_str to, int64_t t, tbuf *k1) {
    if (join_norm(j, to.p, to.n, k1) < 0)
        return -1;
    if (ot_get(&m->relays, k1->p, k1->n))
        return 0;
    int full = held_full(j, m);
    if (full)
        return full < 0 ? -1 : 0;
    return put_addr(j, m, &m->relays, k1->p, k1->n, to, t);
}

/* _hold_bounced: a permanent failure of the local delivery to `to` (tkey: its key) */
static int hold_bounced(Joiner *j, jmsg *m, const tbuf *tkey, fl_str to, fl_str orig,
                        int64_t t) {
    if (ot_get(&m->bounced, tkey->p, tkey->n))
        return 0;
    int full = held_full(j, m);
    if (full)
        return full < 0 ? -1 : 0;
    return put_local(j, m, &m->bounced, tkey->p, tkey->n, to, orig, t) ? 0 : -1;
}

/* _hold_local: *entry = the local receipt of `to` (tkey: its key), held once; NULL when
 * the message is full (the delivery is dropped) */
static int hold_local(Joiner *j, jmsg *m, const tbuf *tkey, fl_str to, fl_str orig, int64_t t,
                      onode **entry) {
    onode *e = ot_get(&m->locals, tkey->p, tkey->n);
    *entry = NULL;
    if (e == NULL) {
        int full = held_full(j, m);
        if (full)
            return full < 0 ? -1 : 0;
        if ((e = put_local(j, m, &m->locals, tkey->p, tkey->n, to, orig, t)) == NULL)
            return -1;
    } else if (truthy_s(orig) && !truthy(&((jlocal *)e->val)->orig)) {
        ostr *eo = &((jlocal *)e->val)->orig;
        Py_ssize_t old = ostr_len(eo);
        if (ostr_set(eo, orig.p, orig.n) < 0)
            return -1;
        join_grow(j, m, ostr_len(eo) - old);
    }
    *entry = e;
    return 0;
}

/* _own_relay: whether a delivery's relay (name[ip]:port) is one of own_hosts; -1 with
 * MemoryError */
static int own_relay(Joiner *j, fl_str relay, fl_str ip) {
    Py_ssize_t b = 0;
    while (b < relay.n && relay.p[b] != '[')
        b++;
    tbuf lo;
    tb_init(&lo);
    int rc = join_lower(relay.p, b, &lo);
    if (rc == 0)
        rc = set_has(&j->own_hosts, lo.p, lo.n);
    if (rc == 0 && ip.n) {
        if (ip.n >= 7 && memcmp(ip.p, "::ffff:", 7) == 0)
            ip = (fl_str){ip.p + 7, ip.n - 7};
        rc = join_lower(ip.p, ip.n, &lo);
        if (rc == 0)
            rc = ip.n > 0 && set_has(&j->own_hosts, lo.p, lo.n);
    }
    tb_free(&lo);
    return rc;
}

/* _relay_hosts: the syslog hosts a relay may name, other than the line's own: its
 * name, the name's first label, its address (lower case), each once.  Returns how
 * many (in h[0..3)), or -1 with MemoryError. */
static int relay_hosts(Joiner *j, fl_str relay, fl_str ip, tbuf h[3]) {
    Py_ssize_t b = 0;
    while (b < relay.n && relay.p[b] != '[')
        b++;
    tbuf cand[3];
    for (int i = 0; i < 3; i++)
        tb_init(&cand[i]);
    int n = -1;
    if (join_lower(relay.p, b, &cand[0]) < 0)
        goto out;
    Py_ssize_t dot = 0;
    while (dot < cand[0].n && cand[0].p[dot] != '.')
        dot++;
    if (tb_set(&cand[1], cand[0].p, dot < cand[0].n && dot > 0 ? dot : 0) < 0 ||
        join_lower(ip.p, ip.n, &cand[2]) < 0)
        goto out;
    n = 0;
    for (int i = 0; i < 3; i++) {
        const tbuf *c = &cand[i];
        int dup = c->n == 0 || bytes_eq(c->p, c->n, j->host.p, j->host.n);
        for (int k = 0; k < n && !dup; k++)
            dup = bytes_eq(c->p, c->n, h[k].p, h[k].n);
        if (!dup) {
            if (tb_set(&h[n], c->p, c->n) < 0) {
                n = -1;
                goto out;
            }
            n++;
        }
    }
out:
    for (int i = 0; i < 3; i++)
        tb_free(&cand[i]);
    return n;
}

/* pop_junk of host's key of k (the line's host when host is NULL) */
static int pop_junk_on(Joiner *j, const fl_str *host, const tbuf *k, int *hit) {
    if (k->n == 0)
        return 0;
    tbuf b;
    tb_init(&b);
    fl_str key;
    int rc = host ? join_hk(j, *host, (fl_str){k->p, k->n}, &b, &key)
                  : join_k(j, (fl_str){k->p, k->n}, &b, &key);
    if (rc == 0 && pop_junk(j, key.p, key.n))
        *hit = 1;
    tb_free(&b);
    return rc;
}

/* join._REJECTED: where a sieve reject's marks in pending_junk begin (a junk fileinto's
 * begin with a user's address or "s:"; these never do) */
#define J_REJECTED "\0r\0"
#define J_REJECTED_N 3

/* out = J_REJECTED + k, and + "\0" + user when user is given (a session's key: an
 * LMTP transaction of several recipients is one session, a reject is one recipient's);
 * empty when k is */
static int rejected_key(tbuf *out, const char *k, Py_ssize_t n, const tbuf *user) {
    out->n = 0;
    if (n == 0)
        return 0;
    Py_ssize_t un = user ? user->n + 1 : 0;
    char *d = tb_reserve(out, J_REJECTED_N + n + un);
    if (d == NULL)
        return -1;
    memcpy(d, J_REJECTED, J_REJECTED_N);
    memcpy(d + J_REJECTED_N, k, (size_t)n);
    if (user) {
        d[J_REJECTED_N + n] = 0;
        if (user->n)
            memcpy(d + J_REJECTED_N + n + 1, user->p, (size_t)user->n);
    }
    out->n = J_REJECTED_N + n + un;
    return 0;
}

/* _junk_filed: 1 if a sieve fileinto a junk folder of `to` logged before waits for this
 * message (it is taken), keyed as _sieve keys it: by the user without extension and the
 * Message-ID, or by the LMTP session (sk, "s:SESSION"; may be empty), on the line's host,
 * then on hosts hs[0..nh); 0 if not, -1 with an exception.  reject: a sieve reject's mark
 * instead, its keys J_REJECTED + those. */
static int junk_filed(Joiner *j, jmsg *m, fl_str to, const tbuf *sk, const tbuf *hs, int nh,
                      int reject) {
    tbuf jk, u, rj, rs;
    tb_init(&jk);
    tb_init(&u);
    tb_init(&rj);
    tb_init(&rs);
    int rc = -1, hit = 0;
    if ((truthy(&m->msgid) || (reject && sk->n)) && join_norm(j, to.p, to.n, &u) < 0)
        goto out;
    if (truthy(&m->msgid) && join_key(&jk, u.p, u.n, m->msgid.p, m->msgid.n) < 0)
        goto out;
    const tbuf *s = sk, *k = &jk;
    if (reject) {
        if (rejected_key(&rj, jk.p, jk.n, NULL) < 0 || rejected_key(&rs, sk->p, sk->n, &u) < 0)
            goto out;
        s = &rs;
        k = &rj;
    }
    if (pop_junk_on(j, NULL, s, &hit) < 0 || pop_junk_on(j, NULL, k, &hit) < 0)
        goto out;
    for (int i = 0; i < nh && (s->n || k->n); i++) {
        fl_str h = {hs[i].p, hs[i].n};
        if (pop_junk_on(j, &h, s, &hit) < 0 || pop_junk_on(j, &h, k, &hit) < 0)
            goto out;
    }
    rc = hit;
out:
    tb_free(&jk);
    tb_free(&u);
    tb_free(&rj);
    tb_free(&rs);
    return rc;
}

/* The end of _delivery: the local receipt of `to` (tkey: its key), unless a sieve
 * reject logged before makes it a local failure; a junk fileinto's mark makes it spam.
 * The marks' keys (the LMTP session, the relay's hosts) are made once, for both. */
static int delivery_local(Joiner *j, jmsg *m, const fl_delivery *r, fl_str ip, fl_str to,
                          fl_str orig, int64_t t, const tbuf *tkey) {
    tbuf sk, hs[3];
    tb_init(&sk);
    for (int i = 0; i < 3; i++)
        tb_init(&hs[i]);
    int rc = -1, nh = 0;
    if (j->pending_junk.n) {
        fl_str s;
        if (join_session(r->response, &s) && join_key(&sk, NULL, 0, s.p, s.n) < 0)
            goto out;
        if (ip.n && !memchr(ip.p, '/', (size_t)ip.n) && !join_loopback(ip.p, ip.n)) {
            /* LMTP over the network: the sieve line is the backend's, named by the relay */
            if ((nh = relay_hosts(j, r->relay, ip, hs)) < 0)
                goto out;
        }
        int rejected = junk_filed(j, m, to, &sk, hs, nh, 1);
        if (rejected) { /* a sieve reject logged before: not kept, refused for the user */
            rc = rejected < 0 ? -1 : hold_bounced(j, m, tkey, to, orig, t);
            goto out;
        }
    }
    onode *entry;
    if (hold_local(j, m, tkey, to, orig, t, &entry) < 0)
        goto out;
    rc = 0;
    if (entry != NULL && j->pending_junk.n) {
        int junk = junk_filed(j, m, to, &sk, hs, nh, 0);
        if (junk < 0)
            rc = -1;
        else if (junk)
            entry->flag = 1;
    }
out:
    tb_free(&sk);
    for (int i = 0; i < 3; i++)
        tb_free(&hs[i]);
    return rc;
}

static int delivery_rest(Joiner *j, jmsg *m, const fl_delivery *r, fl_str ip, int sent,
                         int64_t t, tbuf *k1, tbuf *k2) {
    fl_str to = r->to, orig = FL_NONE;
    if (truthy_s(r->orig_to)) {
        if (join_lower(r->orig_to.p, r->orig_to.n, k1) < 0 || join_lower(to.p, to.n, k2) < 0)
            return -1;
        if (!bytes_eq(k1->p, k1->n, k2->p, k2->n))
            orig = r->orig_to;
    }
    int local = (r->service.p && set_has(&j->local_services, r->service.p, r->service.n)) ||
                (r->response.n >= 10 && memcmp(r->response.p, "delivered ", 10) == 0);
    int outside = ip.n > 0 && !join_loopback(ip.p, ip.n);
    if (!local && r->forwarded_as.p == NULL) {
        if (j->own_hosts.n) {
            int own = own_relay(j, r->relay, ip);
            if (own)
                return own < 0 ? -1 : 0; /* a hand-over inside the platform */
        }
        /* Only a hand-off to another host is a forward (not discard(8), error(8) …). */
        if (sent && orig.p && outside)
            return hold_forward(j, m, orig, to, t, k1, k2);
        if (sent && !orig.p && outside)
            return hold_relay(j, m, to, t, k1);
        return 0;
    }
    if (join_mailbox(j, to.p, to.n, orig.p != NULL, k1) < 0) /* k1 = tkey */
        return -1;
    if (!sent) /* bounced */
        return hold_bounced(j, m, k1, to, orig, t);
    if (r->forwarded_as.p != NULL) {
        /* local(8) expanded an alias or .forward into a new message: a receipt and a
         * forward of the user; the new message counts for its own recipients. */
        fl_str user = orig.p ? orig : to;
        if (join_norm(j, user.p, user.n, k2) < 0)
            return -1;
        if (!ot_get(&m->fwds, k2->p, k2->n)) {
            int full = held_full(j, m);
            if (full)
                return full < 0 ? -1 : 0;
            if (put_addr(j, m, &m->fwds, k2->p, k2->n, user, t) < 0 ||
                join_strip_ext(j, user.p, user.n, k2) < 0)
                return -1;
            return join_emit(j, ev_forward(t, k2->p, k2->n));
        }
        return 0;
    }
    return delivery_local(j, m, r, ip, to, orig, t, k1);
}

static int join_delivery(Joiner *j, const fl_delivery *r, int64_t t) {
    int sent = is_lit(r->status, "sent");
    if (!sent && !is_lit(r->status, "bounced"))
        return 0; /* deferred (retried later), expired, address-verification probes */
    jmsg *m = join_msg(j, r->qid.p, r->qid.n);
    if (m == NULL)
        return -1;
    fl_str ip, port;
    join_ip_of(r->relay, &ip, &port);
    int f = join_is_filter(j, r, ip, port);
    if (f < 0)
        return -1;
    if (f) {
        if (!sent)
            return 0;
        if (truthy_s(r->queued_as))
            return join_link(j, r->qid, r->queued_as, 1);
        return join_filter_answer(j, r->qid, r->response);
    }
    if (!truthy_s(r->to))
        return 0;
    tbuf k1, k2;
    tb_init(&k1);
    tb_init(&k2);
    int rc = delivery_rest(j, m, r, ip, sent, t, &k1, &k2);
    tb_free(&k1);
    tb_free(&k2);
    return rc;
}

static int final_stage(fl_str s) {
    return is_lit(s, "END-OF-MESSAGE") || is_lit(s, "DATA") || is_lit(s, "BDAT") ||
           is_lit(s, "header") || is_lit(s, "body");
}

static int join_reject(Joiner *j, const fl_reject *r, int64_t t) {
    if (r->permanent && truthy_s(r->recipient)) {
        tbuf u;
        tb_init(&u);
        int rc = join_strip_ext(j, r->recipient.p, r->recipient.n, &u);
        if (rc == 0)
            rc = join_emit(j, ev_denied(t, u.p, u.n));
        tb_free(&u);
        if (rc < 0)
            return -1;
    }
    if (truthy_s(r->qid) && final_stage(r->stage) && ot_get(&j->msgs, r->qid.p, r->qid.n)) {
        jmsg *m; /* rejected before it was queued: nothing more will come */
        int rc = join_drop(j, r->qid.p, r->qid.n, &m);
        jmsg_free(m);
        return rc;
    }
    return 0;
}

static int join_discard(Joiner *j, const fl_qid_only *r, int64_t t) {
    onode *e = ot_get(&j->msgs, r->qid.p, r->qid.n);
    if (e != NULL && !((jmsg *)e->val)->queued) {
        jmsg *m;
        int rc = join_drop(j, r->qid.p, r->qid.n, &m);
        jmsg_free(m);
        return rc;
    }
    return 0;
}

static int join_mail_login(Joiner *j, const fl_mail_login *r, const jside *side, int64_t t) {
    fl_str rip = r->rip;
    if (rip.n >= 7 && memcmp(rip.p, "::ffff:", 7) == 0)
        rip = (fl_str){rip.p + 7, rip.n - 7};
    if ((rip.p && set_has(&j->webmail_hosts, rip.p, rip.n)) || !truthy_s(r->user))
        return 0;
    PyObject *service = side && side->service ? side->service : join_service_str(r->service);
    return join_emit(j, ev_login(t, r->user, service));
}

static int join_webmail_login(Joiner *j, const fl_webmail_login *r, int64_t t) {
    if (truthy_s(r->user))
        return join_emit(j, ev_login(t, r->user, NULL));
    return 0;
}

/* box (lower case) in junk_mailboxes, or its last part after "/" or "." is:
 * `for sep in ("/", "."): if sep in box and box.rsplit(sep, 1)[1] in junk: …` */
static int junk_box(Joiner *j, const tbuf *box) {
    if (set_has(&j->junk_mailboxes, box->p, box->n))
        return 1;
    static const char seps[2] = {'/', '.'};
    for (int s = 0; s < 2; s++) {
        Py_ssize_t i = box->n - 1;
        while (i >= 0 && box->p[i] != seps[s])
            i--;
        if (i >= 0 && set_has(&j->junk_mailboxes, box->p + i + 1, box->n - i - 1))
            return 1;
    }
    return 0;
}

/* _delivered_in: the message in flight indexed by ik, if it holds a local delivery to ukey */
static jmsg *delivered_in(Joiner *j, fl_str ik, const tbuf *ukey) {
    onode *ix = ot_get(&j->msgid_index, ik.p, ik.n);
    const ostr *qid = ix ? ix->val : NULL;
    onode *em = qid && truthy(qid) ? ot_get(&j->msgs, qid->p, qid->n) : NULL;
    jmsg *m = em != NULL ? em->val : NULL;
    return m != NULL && ot_get(&m->locals, ukey->p, ukey->n) != NULL ? m : NULL;
}

/* _delivered_to: *out = the message in flight of Message-ID msgid that holds a local
 * delivery to ukey, on the line's host, else on another of the platform's hosts, which
 * handed it over (LMTP); NULL if none.  0, or -1 with an exception. */
static int delivered_to(Joiner *j, fl_str msgid, const tbuf *ukey, tbuf *kb, jmsg **out) {
    fl_str ik;
    if (join_k(j, msgid, kb, &ik) < 0)
        return -1;
    jmsg *m = delivered_in(j, ik, ukey);
    if (m == NULL && set_has(&j->own_hosts, j->host.p, j->host.n)) {
        for (onode *h = j->own_hosts.head; h != NULL && m == NULL; h = h->next) {
            if (bytes_eq(h->key, h->klen, j->host.p, j->host.n))
                continue;
            if (join_hk(j, (fl_str){h->key, h->klen}, msgid, kb, &ik) < 0)
                return -1;
            m = delivered_in(j, ik, ukey);
        }
    }
    *out = m;
    return 0;
}

/* _sieve_reject: a Pigeonhole reject; the delivery logged before becomes a local
 * failure (its node moves from locals to bounced), or a mark waits for the one to come */
static int sieve_reject(Joiner *j, const fl_sieve *r, fl_str msgid, const tbuf *ukey, tbuf *k,
                        tbuf *kb) {
    tbuf rk;
    tb_init(&rk);
    int rc = -1;
    fl_str pk;
    if (msgid.n) {
        jmsg *m;
        if (delivered_to(j, msgid, ukey, kb, &m) < 0)
            goto out;
        if (m != NULL) {
            onode *e = ot_get(&m->locals, ukey->p, ukey->n);
            jlocal *v = e->val;
            if (ot_get(&m->bounced, ukey->p, ukey->n) != NULL) { /* (one recipient held less) */
                join_grow(j, m, -(ukey->n + ostr_len(&v->to) + ostr_len(&v->orig)));
                j->held_rcpts--;
            } else {
                onode *b = ot_append(&m->bounced, ukey->p, ukey->n, e->hash);
                if (b == NULL)
                    goto out;
                b->val = v; /* (moved: the same strings, the same weight) */
                b->t = e->t;
                b->flag = 0;
                e->val = NULL;
            }
            ot_del(&m->locals, e);
            rc = 0;
            goto out;
        }
        if (join_key(k, ukey->p, ukey->n, msgid.p, msgid.n) < 0 ||
            rejected_key(&rk, k->p, k->n, NULL) < 0 ||
            join_k(j, (fl_str){rk.p, rk.n}, kb, &pk) < 0 ||
            !join_bounded(j, &j->pending_junk, pk.p, pk.n, j->now))
            goto out;
    }
    if (truthy_s(r->session)) {
        if (join_key(k, NULL, 0, r->session.p, r->session.n) < 0 ||
            rejected_key(&rk, k->p, k->n, ukey) < 0 ||
            join_k(j, (fl_str){rk.p, rk.n}, kb, &pk) < 0 ||
            !join_bounded(j, &j->pending_junk, pk.p, pk.n, j->now))
            goto out;
    }
    rc = 0;
out:
    tb_free(&rk);
    return rc;
}

static int sieve_rest(Joiner *j, const fl_sieve *r, int64_t t, tbuf *ukey, tbuf *k, tbuf *kb) {
    fl_str msgid = r->msgid;
    if (msgid.p == NULL || is_lit(msgid, "unspecified"))
        msgid = (fl_str){"", 0};
    if (join_norm(j, r->user.p, r->user.n, ukey) < 0)
        return -1;
    if (r->action == FL_REDIRECT) {
        if (msgid.n) {
            fl_str fk;
            if (join_key(k, ukey->p, ukey->n, msgid.p, msgid.n) < 0 ||
                join_k(j, (fl_str){k->p, k->n}, kb, &fk) < 0)
                return -1;
            if (ot_get(&j->sieve_fwd, fk.p, fk.n))
                return 0; /* one forward per message, however many redirect targets */
            if (!join_bounded(j, &j->sieve_fwd, fk.p, fk.n, j->now))
                return -1;
        }
        return join_emit(j, ev_forward(t, r->user.p, r->user.n));
    }
    if (r->action == FL_SIEVE_REJECT)
        return sieve_reject(j, r, msgid, ukey, k, kb);
    if (r->target.p == NULL || join_lower(r->target.p, r->target.n, k) < 0)
        return r->target.p == NULL ? 0 : -1;
    if (!junk_box(j, k))
        return 0;
    /* A delivery into a junk folder: find it (sieve usually logs before Postfix's
     * delivery line; if after, the message is found by its Message-ID). */
    fl_str pk;
    if (msgid.n) {
        jmsg *m;
        if (delivered_to(j, msgid, ukey, kb, &m) < 0)
            return -1;
        if (m != NULL) {
            ot_get(&m->locals, ukey->p, ukey->n)->flag = 1;
            return 0;
        }
        if (join_key(k, ukey->p, ukey->n, msgid.p, msgid.n) < 0 ||
            join_k(j, (fl_str){k->p, k->n}, kb, &pk) < 0 ||
            !join_bounded(j, &j->pending_junk, pk.p, pk.n, j->now))
            return -1;
    }
    if (truthy_s(r->session)) {
        if (join_key(k, NULL, 0, r->session.p, r->session.n) < 0 ||
            join_k(j, (fl_str){k->p, k->n}, kb, &pk) < 0 ||
            !join_bounded(j, &j->pending_junk, pk.p, pk.n, j->now))
            return -1;
    }
    return 0;
}

static int join_sieve(Joiner *j, const fl_sieve *r, int64_t t) {
    if (!truthy_s(r->user))
        return 0;
    if (r->action == FL_VACATION)
        return join_emit(j, ev_autoresponse(t, r->user));
    tbuf ukey, k, kb;
    tb_init(&ukey);
    tb_init(&k);
    tb_init(&kb);
    int rc = sieve_rest(j, r, t, &ukey, &k, &kb);
    tb_free(&ukey);
    tb_free(&k);
    tb_free(&kb);
    return rc;
}

/* _apply_verdict: a breadth-first walk of the children, each message once, at most
 * J_VERDICT_DEPTH links deep and J_VERDICT_VISITS messages in all, in the order of
 * the Python (the cap makes the order matter). */
static int apply_verdict(Joiner *j, fl_str qid, int spam) {
    onode *e = ot_get(&j->msgs, qid.p, qid.n);
    int applied = e != NULL;
    if (e != NULL)
        join_set_spam(e->val, spam);
    onode *ch = ot_get(&j->children, qid.p, qid.n);
    if (ch != NULL) {
        applied = 1;
        /* the messages reached, in the order reached: each level is a run of it */
        fl_str order[J_VERDICT_VISITS];
        otable seen;
        ot_init(&seen, NULL);
        int rc = 0;
        Py_ssize_t n = 0, level_start = 0, level_end;
        if (ot_append(&seen, qid.p, qid.n, hash_bytes(qid.p, qid.n)) == NULL) {
            ot_dealloc(&seen);
            return -1;
        }
        order[n++] = qid;
        for (int depth = 0; depth < J_VERDICT_DEPTH && rc == 0; depth++) {
            level_end = n;
            for (Py_ssize_t i = level_start; i < level_end && rc == 0; i++) {
                onode *cn = ot_get(&j->children, order[i].p, order[i].n);
                if (cn == NULL)
                    continue;
                jchildren *c = cn->val;
                for (Py_ssize_t k = 0; k < c->n; k++) {
                    const char *bp = c->b[k].p;
                    Py_ssize_t bn = c->b[k].n;
                    uint64_t h = hash_bytes(bp, bn);
                    if (ot_find(&seen, bp, bn, h) != NULL || n >= J_VERDICT_VISITS)
                        continue;
                    if (ot_append(&seen, bp, bn, h) == NULL) {
                        rc = -1;
                        break;
                    }
                    order[n++] = (fl_str){bp, bn};
                    onode *mb = ot_get(&j->msgs, bp, bn);
                    if (mb != NULL)
                        join_set_spam(mb->val, spam);
                }
            }
            if (n == level_end)
                break;
            level_start = level_end;
        }
        ot_dealloc(&seen);
        if (rc < 0)
            return -1;
    }
    if (!applied && !ot_get(&j->done, qid.p, qid.n)) {
        onode *pv = ot_get(&j->pending_verdicts, qid.p, qid.n);
        int s = spam || (pv != NULL && pv->flag);
        onode *n = join_bounded(j, &j->pending_verdicts, qid.p, qid.n, j->now);
        if (n == NULL)
            return -1;
        n->flag = s;
    }
    return 0;
}

static int join_verdict(Joiner *j, const fl_spam_verdict *r, int64_t t) {
    if (r->verdict == FL_TEMPFAIL)
        return 0;
    return apply_verdict(j, r->qid, r->verdict == FL_SPAM || r->verdict == FL_REJECT_VERDICT);
}

static int join_reinjected(Joiner *j, const fl_reinjected *r, int64_t t) {
    return join_link(j, r->qid, r->new_qid, 1);
}

static int join_blocked(Joiner *j, fl_str qid, fl_str category, const fl_str *rcpts, int nr,
                        const fl_str *flags, int nf, int64_t t) {
    Py_ssize_t cn = 0;
    while (cn < category.n && category.p[cn] != '-')
        cn++;
    fl_str head = {category.p, cn};
    int held = 0;
    if (category.p && (is_lit(head, "SPAM") || is_lit(head, "SPAMMY"))) {
        for (int i = 0; i < nf; i++)
            if (is_lit(flags[i], "Quarantined"))
                held = 1;
        for (int i = 0; held && i < nf; i++)
            if ((flags[i].n >= 7 && memcmp(flags[i].p, "Bounced", 7) == 0) ||
                (flags[i].n >= 8 && memcmp(flags[i].p, "Rejected", 8) == 0))
                held = 0;
    }
    onode *e = truthy_s(qid) ? ot_get(&j->msgs, qid.p, qid.n) : NULL;
    /* 0 if m is None else max(0, _message_size(m)) */
    jint size = {1, 0, NULL};
    if (e != NULL) {
        jmsg *m = e->val;
        if (m->inherited_size.has)
            jint_max0(&size, &m->inherited_size);
        else if (jint_truthy(&m->size))
            jint_max0(&size, &m->size);
    }
    tbuf u;
    tb_init(&u);
    int rc = 0;
    for (int i = 0; i < nr && rc == 0; i++) {
        if (!truthy_s(rcpts[i]))
            continue;
        rc = join_strip_ext(j, rcpts[i].p, rcpts[i].n, &u);
        if (rc == 0)
            rc = join_emit(j, held ? ev_message_in(t, u.p, u.n, &size, 1) : ev_denied(t, u.p, u.n));
    }
    tb_free(&u);
    jint_clear(&size);
    return rc;
}

/* -- Exim ---------------------------------------------------------------------------------
 * An Exim message is keyed by its message id: every access goes through exim_key (and a
 * Message-ID through msgid_key), the one place that makes a key of them (join.py).  The
 * message id of a record comes keyed by host already (KEYED, handle_keyed); a
 * Message-ID is keyed here, on the line's host (join_k). */

static fl_str exim_key(Joiner *j, fl_str qid) { return qid; }
static int msgid_key(Joiner *j, fl_str msgid, tbuf *b, fl_str *mkey) {
    return join_k(j, msgid, b, mkey);
}

/* "<" + mkey + ">" in *out: the _pending_verdicts key of a Message-ID */
static int verdict_key(tbuf *out, fl_str mkey) {
    char *d = tb_reserve(out, mkey.n + 2);
    if (d == NULL)
        return -1;
    d[0] = '<';
    memcpy(d + 1, mkey.p, (size_t)mkey.n);
    d[mkey.n + 1] = '>';
    out->n = mkey.n + 2;
    return 0;
}

/* self._msgid_index[mkey] = key */
static int index_msgid(Joiner *j, fl_str mkey, fl_str key) {
    uint64_t h = hash_bytes(mkey.p, mkey.n);
    onode *e = ot_find(&j->msgid_index, mkey.p, mkey.n, h);
    if (e == NULL) {
        ostr *q = calloc(1, sizeof *q);
        if (q == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        e = ot_append(&j->msgid_index, mkey.p, mkey.n, h);
        if (e == NULL) {
            free(q);
            return -1;
        }
        e->val = q;
    }
    return ostr_set(e->val, key.p, key.n);
}

/* len({a.lower() for a in rcpts}) */
static int distinct_lower(const fl_str *rcpts, int nr, int64_t *count) {
    otable seen;
    ot_init(&seen, NULL);
    tbuf k;
    tb_init(&k);
    int rc = 0;
    for (int i = 0; i < nr && rc == 0; i++)
        if ((rc = join_lower(rcpts[i].p, rcpts[i].n, &k)) == 0)
            rc = set_add(&seen, k.p, k.n);
    *count = (int64_t)seen.n;
    tb_free(&k);
    ot_dealloc(&seen);
    return rc;
}

static int join_exim_arrival(Joiner *j, const fl_exim_arrival *r, const jside *side,
                             int64_t t) {
    fl_str key = exim_key(j, r->qid);
    jmsg *m = join_msg(j, key.p, key.n);
    if (m == NULL)
        return -1;
    m->queued = 1;
    jint size = side_int(r->size, side, 0);
    if (!m->size.has)
        jint_max0(&m->size, &size);
    if (r->client_ip.p != NULL) {
        Py_ssize_t old = ostr_len(&m->client);
        if (ostr_set(&m->client, r->client_ip.p, r->client_ip.n) < 0)
            return -1;
        join_grow(j, m, r->client_ip.n - old);
        m->loopback = join_loopback(r->client_ip.p, r->client_ip.n);
    }
    if (truthy_s(r->message_id)) {
        Py_ssize_t old = ostr_len(&m->msgid);
        if (ostr_set(&m->msgid, r->message_id.p, r->message_id.n) < 0)
            return -1;
        join_grow(j, m, r->message_id.n - old);
        tbuf mb, pk;
        tb_init(&mb);
        tb_init(&pk);
        fl_str mkey;
        int rc = msgid_key(j, r->message_id, &mb, &mkey);
        if (rc == 0)
            rc = index_msgid(j, mkey, key);
        if (rc == 0)
            rc = verdict_key(&pk, mkey);
        tb_free(&mb);
        onode *pv = rc == 0 ? ot_get(&j->pending_verdicts, pk.p, pk.n) : NULL;
        tb_free(&pk);
        if (rc < 0)
            return -1;
        if (pv != NULL) { /* spamd ran in the DATA ACL, before this line */
            int spam = pv->flag;
            ot_del(&j->pending_verdicts, pv);
            join_set_spam(m, spam);
        }
    }
    fl_str user = r->auth;
    if (!truthy_s(user) && r->local_user.p != NULL &&
        set_has(&j->webmail_users, r->local_user.p, r->local_user.n))
        user = r->sender; /* webmail through Exim's sendmail: as pickup's webmail_uids */
    if (!truthy_s(user) || truthy(&m->sasl) || m->out_done)
        return 0;
    Py_ssize_t old = ostr_len(&m->sasl);
    if (ostr_set(&m->sasl, user.p, user.n) < 0)
        return -1;
    join_grow(j, m, user.n - old);
    int nr = side != NULL && side->rcpts != NULL ? side->n_rcpts : r->n_recipients;
    if (nr < 0) {
        m->has_arrived = 1; /* counted at "Completed", its recipients seen by then */
        m->arrived = t;
        return 0;
    }
    m->out_done = 1;
    jint n = {1, 0, NULL};
    if (distinct_lower(side != NULL && side->rcpts != NULL ? side->rcpts : r->recipients, nr,
                       &n.v) < 0)
        return -1;
    jint s0 = max0(&size);
    int rc = join_emit(j, ev_message_out(t, &m->sasl, &n, &s0));
    jint_clear(&s0);
    return rc;
}

/* s.find(c) >= 0 ? its index : -1, from the end with rev */
static Py_ssize_t char_at(fl_str s, char c, int rev) {
    for (Py_ssize_t i = 0; s.p != NULL && i < s.n; i++) {
        Py_ssize_t k = rev ? s.n - 1 - i : i;
        if (s.p[k] == c)
            return k;
    }
    return -1;
}

/* ASCII case-insensitive `lit in s.lower()` (lit lower case) */
static int contains_ci(fl_str s, const char *lit) {
    Py_ssize_t m = (Py_ssize_t)strlen(lit);
    for (Py_ssize_t i = 0; i + m <= s.n; i++) {
        Py_ssize_t k = 0;
        while (k < m) {
            char c = s.p[i + k];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != lit[k])
                break;
            k++;
        }
        if (k == m)
            return 1;
    }
    return 0;
}

/* join._spam_folder */
static int spam_folder(fl_str router, fl_str transport) {
    return contains_ci(router, "spam") || contains_ci(transport, "spam") ||
           contains_ci(transport, "_sa_");
}

/* 1 if a, b are equal lower cased (-1 with an exception) */
static int eq_lower(fl_str a, fl_str b, tbuf *k1, tbuf *k2) {
    if (join_lower(a.p, a.n, k1) < 0 || join_lower(b.p, b.n, k2) < 0)
        return -1;
    return bytes_eq(k1->p, k1->n, k2->p, k2->n);
}

static int exim_delivery_rest(Joiner *j, jmsg *m, const fl_exim_delivery *r, int64_t t,
                              tbuf *toq, tbuf *k1, tbuf *k2) {
    fl_str to = r->to, orig = r->orig;
    if ((to.n > 0 && (to.p[0] == '|' || to.p[0] == '/')) ||
        (to.n >= 5 && memcmp(to.p, "save ", 5) == 0)) {
        if (!truthy_s(orig))
            return 0;
        to = orig; /* a pipe or file of the top-level address's own */
        orig = FL_NONE;
    } else if (char_at(to, '@', 0) < 0 && truthy_s(orig) && char_at(orig, '@', 0) >= 0) {
        /* log_as_local: the local part only */
        Py_ssize_t at = char_at(orig, '@', 1);
        char *d = tb_reserve(toq, to.n + orig.n - at);
        if (d == NULL)
            return -1;
        memcpy(d, to.p, (size_t)to.n);
        memcpy(d + to.n, orig.p + at, (size_t)(orig.n - at));
        toq->n = to.n + orig.n - at;
        to = (fl_str){toq->p, toq->n};
    }
    if (truthy_s(orig)) {
        int eq = eq_lower(orig, to, k1, k2);
        if (eq < 0)
            return -1;
        if (eq)
            orig = FL_NONE;
    }
    if (m->has_arrived && !m->out_done) {
        fl_str top = truthy_s(orig) ? orig : to;
        if (join_norm(j, top.p, top.n, k1) < 0)
            return -1;
        if (!set_has(&m->erc, k1->p, k1->n)) {
            int full = held_full(j, m);
            if (full)
                return full < 0 ? -1 : 0;
            if (set_add(&m->erc, k1->p, k1->n) < 0)
                return -1;
            join_grow(j, m, k1->n);
        }
    }
    if (r->kind == FL_EX_FAKE)
        return 0; /* -N: not delivered */
    if (to.n > 0 && to.p[0] == '>') {
        /* Exim's autoreply transport ("=> >to <top> R=... T=address_reply"): a message
         * sent on the top-level address's behalf, not one more delivery to it */
        if (truthy_s(orig) && (r->kind == FL_EX_DELIVERED || r->kind == FL_EX_MORE))
            return join_emit(j, ev_autoresponse(t, orig));
        return 0;
    }
    int remote = r->ip.n > 0 && !contains_ci(r->transport, "lmtp");
    if (r->kind == FL_EX_FAILED) {
        if (remote) /* a remote server's refusal: not ours to count */
            return 0;
        /* a local mailbox refused it (over quota, no such user) */
        if (join_mailbox(j, to.p, to.n, truthy_s(orig), k1) < 0)
            return -1;
        return hold_bounced(j, m, k1, to, orig, t);
    }
    if (remote) {
        if (join_loopback(r->ip.p, r->ip.n))
            return 0; /* a content filter on this host */
        if (j->own_hosts.n) {
            int own = own_relay(j, (fl_str){"", 0}, r->ip);
            if (own)
                return own < 0 ? -1 : 0; /* a hand-over inside the platform */
        }
        if (truthy_s(orig))
            return hold_forward(j, m, orig, to, t, k1, k2);
        return hold_relay(j, m, to, t, k1);
    }
    if (join_mailbox(j, to.p, to.n, truthy_s(orig), k1) < 0) /* k1 = tkey */
        return -1;
    if (j->pending_junk.n) {
        k2->n = 0; /* (no LMTP session: only the Message-ID, on this host) */
        int rejected = junk_filed(j, m, to, k2, NULL, 0, 1);
        if (rejected) /* a sieve reject logged before */
            return rejected < 0 ? -1 : hold_bounced(j, m, k1, to, orig, t);
    }
    onode *entry;
    if (hold_local(j, m, k1, to, orig, t, &entry) < 0)
        return -1;
    if (entry == NULL)
        return 0;
    if (spam_folder(r->router, r->transport)) {
        entry->flag = 1;
    } else if (j->pending_junk.n) {
        /* a sieve fileinto a junk folder logged before this line (Dovecot LMTP) */
        k2->n = 0; /* (no LMTP session: only the Message-ID, on this host) */
        int jf = junk_filed(j, m, to, k2, NULL, 0, 0);
        if (jf < 0)
            return -1;
        if (jf)
            entry->flag = 1;
    }
    return 0;
}

static int join_exim_delivery(Joiner *j, const fl_exim_delivery *r, int64_t t) {
    fl_str key = exim_key(j, r->qid);
    jmsg *m = join_msg(j, key.p, key.n);
    if (m == NULL)
        return -1;
    tbuf toq, k1, k2;
    tb_init(&toq);
    tb_init(&k1);
    tb_init(&k2);
    int rc = exim_delivery_rest(j, m, r, t, &toq, &k1, &k2);
    tb_free(&toq);
    tb_free(&k1);
    tb_free(&k2);
    return rc;
}

static int join_exim_completed(Joiner *j, const fl_qid_only *r, int64_t t) {
    fl_str key = exim_key(j, r->qid);
    onode *e = ot_get(&j->msgs, key.p, key.n);
    if (e == NULL)
        return 0;
    jmsg *m = e->val;
    m->has_removed = 1;
    m->removed = t;
    return join_finish(j, key.p, key.n);
}

static int spamd_rest(Joiner *j, const fl_spamd_result *r, tbuf *mb);

static int join_spamd(Joiner *j, const fl_spamd_result *r, int64_t t) {
    tbuf mb;
    tb_init(&mb);
    int rc = spamd_rest(j, r, &mb);
    tb_free(&mb);
    return rc;
}

static int spamd_rest(Joiner *j, const fl_spamd_result *r, tbuf *mb) {
    fl_str mkey;
    if (msgid_key(j, r->message_id, mb, &mkey) < 0)
        return -1;
    onode *ix = ot_get(&j->msgid_index, mkey.p, mkey.n);
    const ostr *key = ix != NULL ? ix->val : NULL;
    if (key != NULL && key->p != NULL && ot_get(&j->msgs, key->p, key->n))
        return apply_verdict(j, (fl_str){key->p, key->n}, r->spam);
    /* spamd in Exim's DATA ACL answers before the "<=" line names the Message-ID */
    tbuf pk;
    tb_init(&pk);
    if (verdict_key(&pk, mkey) < 0) {
        tb_free(&pk);
        return -1;
    }
    onode *pv = ot_get(&j->pending_verdicts, pk.p, pk.n);
    int s = r->spam || (pv != NULL && pv->flag);
    onode *n = join_bounded(j, &j->pending_verdicts, pk.p, pk.n, j->now);
    tb_free(&pk);
    if (n == NULL)
        return -1;
    n->flag = s;
    return 0;
}

static int quota_emit(Joiner *j, onode *e) {
    jquota *q = e->val;
    e->val = NULL;
    if (set_add(&j->quota_done, e->key, e->klen) < 0) {
        e->val = q;
        return -1;
    }
    j->quota.bytes -= (size_t)(ostr_len(&q->user) + ostr_len(&q->root)); /* (the key: ot_del) */
    ot_del(&j->quota, e);
    if (j->quota_done.n > (size_t)j->max_entries || j->quota_done.bytes > J_MAX_TABLE_BYTES)
        ot_clear(&j->quota_done);
    int rc = join_emit(j, ev_storage(q->time, &q->user, &q->items, &q->bytes));
    jquota_free(q);
    return rc;
}

/* for key in list(self._quota): self._quota_emit(key) */
int join_quota_emit_all(Joiner *j) {
    while (j->quota.n)
        if (quota_emit(j, j->quota.head) < 0)
            return -1;
    return 0;
}

static int join_quota_header(Joiner *j) {
    while (j->quota.n)
        if (quota_emit(j, j->quota.head) < 0)
            return -1;
    ot_clear(&j->quota_done);
    return 0;
}

static int quota_row_rest(Joiner *j, const fl_quota_row *r, const jside *side, int64_t t,
                          tbuf *key) {
    if (join_lower(r->user.p, r->user.n, key) < 0)
        return -1;
    if (set_has(&j->quota_done, key->p, key->n))
        return 0; /* a second quota root of the same user: the first one is reported */
    onode *e = ot_get(&j->quota, key->p, key->n);
    jquota *q;
    if (e == NULL) {
        q = calloc(1, sizeof *q);
        if (q == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        q->time = t;
        if ((e = ot_append(&j->quota, key->p, key->n, hash_bytes(key->p, key->n))) == NULL) {
            free(q);
            return -1;
        }
        e->val = q;
        if (ostr_set(&q->user, r->user.p, r->user.n) < 0 ||
            ostr_set(&q->root, r->root.p, r->root.n) < 0)
            return -1;
        j->quota.bytes += (size_t)(ostr_len(&q->user) + ostr_len(&q->root));
        /* rows never completed are reported as they stand, the oldest first, past
         * max_entries or J_MAX_TABLE_BYTES (never this one, the newest) */
        while (j->quota.n > 1 &&
               (j->quota.n > (size_t)j->max_entries || j->quota.bytes > J_MAX_TABLE_BYTES))
            if (quota_emit(j, j->quota.head) < 0)
                return -1;
    } else {
        q = e->val;
        if (!ostr_eq(&q->root, r->root.p, r->root.n)) /* q[1] != r.root */
            return 0;
    }
    jint v = side_int(r->value, side, 0);
    jint_max0(r->kind == FL_STORAGE ? &q->bytes : &q->items, &v);
    if (q->bytes.has && q->items.has)
        return quota_emit(j, e);
    return 0;
}

static int join_quota_row(Joiner *j, const fl_quota_row *r, const jside *side, int64_t t) {
    if (t != j->quota_time) {
        /* Rows of another report (another file, another mtime), even without a header. */
        if (join_quota_header(j) < 0)
            return -1;
        j->quota_time = t;
    }
    tbuf key;
    tb_init(&key);
    int rc = quota_row_rest(j, r, side, t, &key);
    tb_free(&key);
    return rc;
}

/* The queue ids of each record kind (at most two): what the handlers key with
 * self._k(…) on a line of a host whose keys carry it.  A record kind that holds a
 * queue id is listed here; its handler then needs nothing else to key by host. */
#define QF(m, f) offsetof(fl_record, u.m.f) /* never 0: kind comes first */
static const struct {
    size_t size, f1, f2; /* the union member's size; offsets of its fl_str ids (0: none) */
} KEYED[FL_LAST_KIND + 1] = {
    [FL_SMTPD_CLIENT] = {sizeof(fl_smtpd_client), QF(smtpd_client, qid),
                         QF(smtpd_client, orig_qid)},
    [FL_PICKUP] = {sizeof(fl_pickup), QF(pickup, qid), 0},
    [FL_CLEANUP_MSGID] = {sizeof(fl_cleanup_msgid), QF(cleanup, qid), 0},
    [FL_QMGR_FROM] = {sizeof(fl_qmgr_from), QF(qmgr_from, qid), 0},
    [FL_QMGR_REMOVED] = {sizeof(fl_qid_only), QF(qid_only, qid), 0},
    [FL_DISCARD] = {sizeof(fl_qid_only), QF(qid_only, qid), 0},
    [FL_DELIVERY] = {sizeof(fl_delivery), QF(delivery, qid), QF(delivery, queued_as)},
    [FL_REJECT] = {sizeof(fl_reject), QF(reject, qid), 0},
    [FL_SPAM_VERDICT] = {sizeof(fl_spam_verdict), QF(spam_verdict, qid), 0},
    [FL_REINJECTED] = {sizeof(fl_reinjected), QF(reinjected, qid), QF(reinjected, new_qid)},
    [FL_EXIM_ARRIVAL] = {sizeof(fl_exim_arrival), QF(exim_arrival, qid), 0},
    [FL_EXIM_DELIVERY] = {sizeof(fl_exim_delivery), QF(exim_delivery, qid), 0},
    [FL_EXIM_COMPLETED] = {sizeof(fl_qid_only), QF(exim_completed, qid), 0},
};
#undef QF

/* join_handle of a line of a host whose keys carry it (not the first host) */
static int handle_keyed(Joiner *j, const fl_record *r, const jside *side, int64_t t) {
    if (r->kind == FL_FILTER_BLOCKED) {
        /* (its lists stay where they are: only the queue id is keyed) */
        const fl_filter_blocked *fb = &r->u.filter_blocked;
        tbuf b;
        tb_init(&b);
        fl_str q;
        int rc = join_k(j, fb->qid, &b, &q);
        if (rc == 0 && side != NULL && side->rcpts != NULL)
            rc = join_blocked(j, q, fb->category, side->rcpts, side->n_rcpts, side->flags,
                              side->n_flags, t);
        else if (rc == 0)
            rc = join_blocked(j, q, fb->category, fb->recipients, fb->n_recipients, fb->flags,
                              fb->n_flags, t);
        tb_free(&b);
        return rc;
    }
    if (r->kind <= 0 || r->kind > FL_LAST_KIND || KEYED[r->kind].size == 0)
        return join_handle_record(j, r, side, t); /* no queue id: the handler keys (sieve) */
    fl_record k;
    k.kind = r->kind;
    memcpy(&k.u, &r->u, KEYED[r->kind].size);
    tbuf b[2];
    tb_init(&b[0]);
    tb_init(&b[1]);
    size_t off[2] = {KEYED[r->kind].f1, KEYED[r->kind].f2};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++)
        if (off[i])
            rc = join_k(j, *(const fl_str *)((const char *)r + off[i]), &b[i],
                        (fl_str *)((char *)&k + off[i]));
    if (rc == 0)
        rc = join_handle_record(j, &k, side, t);
    tb_free(&b[0]);
    tb_free(&b[1]);
    return rc;
}

/* self._handlers[type(rec)](rec, t) */
int join_handle(Joiner *j, const fl_record *r, const jside *side, int64_t t) {
    if (j->khost.n)
        return handle_keyed(j, r, side, t);
    return join_handle_record(j, r, side, t);
}

static int join_handle_record(Joiner *j, const fl_record *r, const jside *side, int64_t t) {
    switch (r->kind) {
    case FL_SMTPD_CLIENT:
        return join_smtpd(j, &r->u.smtpd_client, t);
    case FL_PICKUP:
        return join_pickup(j, &r->u.pickup, side, t);
    case FL_CLEANUP_MSGID:
        return join_cleanup(j, &r->u.cleanup, t);
    case FL_QMGR_FROM:
        return join_qmgr(j, &r->u.qmgr_from, side, t);
    case FL_QMGR_REMOVED:
        return join_removed(j, &r->u.qid_only, t);
    case FL_DELIVERY:
        return join_delivery(j, &r->u.delivery, t);
    case FL_REJECT:
        return join_reject(j, &r->u.reject, t);
    case FL_DISCARD:
        return join_discard(j, &r->u.qid_only, t);
    case FL_MAIL_LOGIN:
        return join_mail_login(j, &r->u.mail_login, side, t);
    case FL_SIEVE:
        return join_sieve(j, &r->u.sieve, t);
    case FL_WEBMAIL_LOGIN:
        return join_webmail_login(j, &r->u.webmail_login, t);
    case FL_SPAM_VERDICT:
        return join_verdict(j, &r->u.spam_verdict, t);
    case FL_REINJECTED:
        return join_reinjected(j, &r->u.reinjected, t);
    case FL_FILTER_BLOCKED: {
        const fl_filter_blocked *b = &r->u.filter_blocked;
        if (side != NULL && side->rcpts != NULL) /* lists too long for the struct */
            return join_blocked(j, b->qid, b->category, side->rcpts, side->n_rcpts, side->flags,
                                side->n_flags, t);
        return join_blocked(j, b->qid, b->category, b->recipients, b->n_recipients, b->flags,
                            b->n_flags, t);
    }
    case FL_QUOTA_HEADER:
        return join_quota_header(j);
    case FL_QUOTA_ROW:
        return join_quota_row(j, &r->u.quota_row, side, t);
    case FL_EXIM_ARRIVAL:
        return join_exim_arrival(j, &r->u.exim_arrival, side, t);
    case FL_EXIM_DELIVERY:
        return join_exim_delivery(j, &r->u.exim_delivery, t);
    case FL_EXIM_COMPLETED:
        return join_exim_completed(j, &r->u.exim_completed, t);
    case FL_SPAMD_RESULT:
        return join_spamd(j, &r->u.spamd_result, t);
    }
    return 0; /* no handler: the record is counted and ignored */
}
