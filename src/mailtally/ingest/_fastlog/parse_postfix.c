/* Postfix log lines -> records: the C twin of mailtally/ingest/parsers/postfix.py
 * (the reference; read the two side by side -- same function names, same order
 * of tests, slices with Python's semantics). */
#include "parse_util.h"

#define MAX_MESSAGE_SIZE (INT64_C(1) << 40) /* mailtally.events */
#define MAX_RECIPIENTS (INT64_C(1) << 24)

/* _angle(): the address in <...> beginning at `start`; *end gets the end index. */
static fl_str angle(fl_str text, Py_ssize_t start, Py_ssize_t *end) {
    Py_ssize_t e = close_addr(text, start);
    if (e < 0) {
        e = findc(text, ',', start);
        if (e < 0)
            e = text.n;
        *end = e;
        return sl(text, start, e);
    }
    *end = e + 1;
    return sl(text, start, e);
}

/* _field(): the value of `name` up to the next comma, or None (p == NULL). */
static fl_str field(fl_str text, const char *name, Py_ssize_t m, Py_ssize_t start) {
    Py_ssize_t i = find_n(text, name, m, start);
    if (i < 0)
        return FL_NONE;
    i += m;
    Py_ssize_t e = findc(text, ',', i);
    return e < 0 ? from(text, i) : sl(text, i, e);
}
#define FIELD(text, name, start) field(text, LIT(name), start)

/* `x or None` for a str */
static inline fl_str or_none(fl_str s) { return s.p != NULL && s.n > 0 ? s : FL_NONE; }

static int parse_client(fl_str qid, fl_str rest, fl_result *out) {
    Py_ssize_t e = FIND(rest, ", ", 7);
    fl_str client = e < 0 ? from(rest, 7) : sl(rest, 7, e);
    Py_ssize_t b = rfindc(client, '[');
    if (b < 0 || (!ENDS(client, "]") && !CONTAINS(client, "]:")))
        return R_NONE;
    Py_ssize_t k = findc(client, ']', b);
    /* k == -1 is possible ("]:" before the "[", no "]" after it): Python then
     * slices with -1, i.e. up to the last character, and tail is client[0:]. */
    fl_str ip = k < 0 ? sl(client, b + 1, client.n - 1) : sl(client, b + 1, k);
    fl_str tail = from(client, k + 1);
    int64_t port = -1;
    if (STARTS(tail, ":") && isdigits(from(tail, 1))) {
        if (!digits_value(from(tail, 1), &port))
            return R_FALLBACK; /* a port beyond int64: Python keeps it */
    }
    fl_str sasl = FL_NONE, orig = FL_NONE;
    if (e >= 0) {
        sasl = FIELD(rest, ", sasl_username=", e);
        orig = FIELD(rest, ", orig_queue_id=", e);
    }
    fl_record *r = add_record(out, FL_SMTPD_CLIENT);
    if (r == NULL)
        return R_FALLBACK;
    r->u.smtpd_client = (fl_smtpd_client){qid, ip, port, or_none(sasl), or_none(orig)};
    return R_RECS;
}

static int parse_qmgr_from(fl_str qid, fl_str rest, fl_result *out) {
    Py_ssize_t i = RFIND(rest, ", size=");
    if (i < 0)
        return R_NONE;
    fl_str sender = sl(rest, 6, i);
    if (ENDS(sender, ">"))
        sender.n--;
    Py_ssize_t j = FIND(rest, ", nrcpt=", i);
    if (j < 0)
        return R_NONE;
    fl_str size_text = sl(rest, i + 7, j);
    Py_ssize_t k = j + 8;
    Py_ssize_t e = findc(rest, ' ', k);
    fl_str nrcpt_text = e < 0 ? from(rest, k) : sl(rest, k, e);
    if (!(isdigits(size_text) && isdigits(nrcpt_text)))
        return R_NONE;
    if (size_text.n > 20 || nrcpt_text.n > 20)
        return R_NONE;
    int64_t size, nrcpt;
    /* 20 digits may not fit in int64, but such a number is over the limits anyway */
    if (!digits_value(size_text, &size) || !digits_value(nrcpt_text, &nrcpt))
        return R_NONE;
    if (size > MAX_MESSAGE_SIZE || nrcpt > MAX_RECIPIENTS)
        return R_NONE;
    fl_record *r = add_record(out, FL_QMGR_FROM);
    if (r == NULL)
        return R_FALLBACK;
    r->u.qmgr_from = (fl_qmgr_from){qid, sender, size, nrcpt};
    return R_RECS;
}

/* _after_word(): the token following `word` (alnum, '_', '-'), or None. */
static fl_str after_word(fl_str text, const char *word, Py_ssize_t m) {
    Py_ssize_t i = find_n(text, word, m, 0);
    if (i < 0)
        return FL_NONE;
    i += m;
    Py_ssize_t e = i;
    while (e < text.n && (IS_ALNUM(text.p[e]) || text.p[e] == '_' || text.p[e] == '-'))
        e++;
    return e > i ? sl(text, i, e) : FL_NONE;
}

static int parse_delivery(fl_str qid, fl_str rest, fl_str service, fl_result *out) {
    Py_ssize_t pos;
    fl_str to = angle(rest, 4, &pos);
    fl_str orig = FL_NONE;
    if (STARTS_AT(rest, ", orig_to=<", pos))
        orig = angle(rest, pos + 11, &pos);
    /* ", relay=" right after the addresses, once (why: postfix._parse_delivery) */
    if (!STARTS_AT(rest, ", relay=", pos) || FIND(rest, ", relay=", pos + 8) >= 0)
        return R_NONE;
    fl_str relay = FIELD(rest, "relay=", pos);
    if (relay.p == NULL)
        relay = sl(rest, 0, 0); /* `or ""` */
    Py_ssize_t s = FIND(rest, "status=", pos);
    if (s < 0)
        return R_NONE;
    s += 7;
    Py_ssize_t e = findc(rest, ' ', s);
    fl_str status, response;
    if (e < 0) {
        status = from(rest, s);
        response = sl(rest, rest.n, rest.n);
    } else {
        status = sl(rest, s, e);
        response = from(rest, e + 1);
        if (STARTS(response, "(") && ENDS(response, ")"))
            response = sl(response, 1, response.n - 1);
    }
    if (ENDS(status, ","))
        status.n--;
    fl_str queued_as = FL_NONE, forwarded_as = FL_NONE;
    if (EQ(status, "sent")) {
        if (STARTS(response, "forwarded as ")) {
            forwarded_as = after_word(response, LIT("forwarded as "));
        } else if (CONTAINS(response, "queued as ")) {
            /* the last "queued as" is the re-injected message */
            Py_ssize_t k = RFIND(response, "queued as ");
            queued_as = after_word(from(response, k), LIT("queued as "));
        }
    }
    fl_record *r = add_record(out, FL_DELIVERY);
    if (r == NULL)
        return R_FALLBACK;
    r->u.delivery = (fl_delivery){qid,      to,       or_none(orig), relay,       status,
                                  service,  response, queued_as,     forwarded_as};
    return R_RECS;
}

/* _permanent(): _CODE.search(text), _CODE being (not re.ASCII)
 *     (?:^|[\s:])([45])(?:\d\d[ -]|\d\d$|\.\d{1,3}\.\d{1,3})
 * The leftmost match is the one whose digit comes first, so the digits are
 * tried in order.  Returns 1 (5xx), 0 (4xx), -1 (no code: None). */
static int permanent(fl_str t) {
    const char *p = t.p;
    Py_ssize_t n = t.n;
    for (Py_ssize_t d = 0; d < n; d++) {
        if (p[d] != '4' && p[d] != '5')
            continue;
        if (d > 0 && !(IS_SPACE(p[d - 1]) || p[d - 1] == ':'))
            continue;
        int ok = 0;
        if (d + 2 < n && IS_DIGIT(p[d + 1]) && IS_DIGIT(p[d + 2])) {
            Py_ssize_t a = d + 3;
            /* \d\d[ -], or \d\d$ ($: the end, or before a final newline) */
            if (a < n && (p[a] == ' ' || p[a] == '-'))
                ok = 1;
            else if (a == n || (a == n - 1 && p[a] == '\n'))
                ok = 1;
        }
        if (!ok && d + 1 < n && p[d + 1] == '.') {
            /* \.\d{1,3}\.\d{1,3}: the run of digits must be 1-3 long and end at a "." */
            Py_ssize_t a = d + 2, b = a;
            while (b < n && IS_DIGIT(p[b]))
                b++;
            if (b - a >= 1 && b - a <= 3 && b + 1 < n && p[b] == '.' && IS_DIGIT(p[b + 1]))
                ok = 1;
        }
        if (ok)
            return p[d] == '5';
    }
    return -1;
}

/* postfix._to_at(t, i): the first " to=<" at or after i (at the start, or after
 * whitespace, "," or ";"), -1 if none */
static Py_ssize_t to_at(fl_str t, Py_ssize_t i) {
    for (i = FIND(t, "to=<", i); i >= 0; i = FIND(t, "to=<", i + 1)) {
        char c = i > 0 ? t.p[i - 1] : 0;
        if (i == 0 || IS_SPACE(c) || c == ',' || c == ';')
            return i;
    }
    return -1;
}

/* postfix._only_to(t, start): the address of the " to=<...>" at or after start when
 * it is the only one in t; None (p == NULL) otherwise.  Why: in postfix.py. */
static fl_str only_to(fl_str t, Py_ssize_t start) {
    Py_ssize_t first = to_at(t, 0);
    if (first < start || to_at(t, first + 4) >= 0)
        return FL_NONE;
    Py_ssize_t e = close_addr(t, first + 4);
    return e < 0 ? FL_NONE : sl(t, first + 4, e);
}

static int parse_reject(fl_str qid, fl_str rest, int milter, fl_result *out) {
    Py_ssize_t sp = findc(rest, ' ', 0);
    fl_str stage = sp > 0 ? sl(rest, 0, sp) : rest;
    Py_ssize_t tail_at = RFIND(rest, "; from=<");
    if (tail_at < 0)
        tail_at = RFIND(rest, "; to=<");
    fl_str recipient = tail_at >= 0 ? only_to(rest, tail_at) : FL_NONE;
    int perm;
    if (EQ(stage, "header") || EQ(stage, "body")) {
        Py_ssize_t k = RFIND(rest, ">: ");
        perm = permanent(k >= 0 ? from(rest, k + 1) : rest);
    } else {
        Py_ssize_t f = FIND(rest, " from ", 0);
        fl_str head = (f >= 0 && tail_at > f) ? sl(rest, f + 6, tail_at) : from(rest, sp + 1);
        Py_ssize_t b = findc(head, ']', 0);
        perm = permanent(b >= 0 ? from(head, b + 1) : head);
    }
    if (perm < 0)
        return R_NONE;
    fl_record *r = add_record(out, FL_REJECT);
    if (r == NULL)
        return R_FALLBACK;
    r->u.reject = (fl_reject){qid, stage, or_none(recipient), perm, milter};
    return R_RECS;
}

/* _parse_proxy_reject(qid, rest): a before-queue filter's refusal; the code is read in
 * the reply between the stage and the envelope part only. */
static int parse_proxy_reject(fl_str qid, fl_str rest, fl_result *out) {
    Py_ssize_t c = FIND(rest, ": ", 0);
    if (c <= 0)
        return R_NONE;
    fl_str stage = sl(rest, 0, c);
    Py_ssize_t tail_at = RFIND(rest, "; from=<");
    if (tail_at < 0)
        tail_at = RFIND(rest, "; to=<");
    fl_str reply = tail_at > c ? sl(rest, c + 2, tail_at) : from(rest, c + 2);
    int perm = permanent(reply);
    if (perm < 0)
        return R_NONE;
    fl_str recipient = tail_at > c ? only_to(rest, tail_at) : FL_NONE;
    fl_record *r = add_record(out, FL_REJECT);
    if (r == NULL)
        return R_FALLBACK;
    r->u.reject = (fl_reject){qid, stage, or_none(recipient), perm, 0};
    return R_RECS;
}

/* _QID_IGNORED */
static const struct {
    const char *s;
    Py_ssize_t n;
} qid_ignored[] = {
    {LIT("reject_warning:")},
    {LIT("milter-hold:")},
    {LIT("hold:")},
    {LIT("warning:")},
    {LIT("info:")},
    {LIT("replace:")},
    {LIT("prepend:")},
    {LIT("redirect:")},
    {LIT("filter:")},
    {LIT("milter-reject_warning")},
    {LIT("requeued")},
    {LIT("placed on hold")},
    {LIT("released from hold")},
    {LIT("sender delay notification:")},
    {LIT("sender non-delivery notification:")},
    {LIT("sender delivery status notification:")},
    {LIT("postmaster non-delivery notification:")},
    {LIT("postmaster delivery status notification:")},
    {LIT("resent-message-id=")},
    {LIT("host ")},
    {LIT("lost connection")},
    {LIT("conversation with")},
    {LIT("enabling PIX workarounds")},
    {LIT("Cannot start TLS")},
    {LIT("cannot start TLS")},
    {LIT("SMTPUTF8")},
};

static int one(fl_result *out, int kind, fl_str qid) {
    fl_record *r = add_record(out, kind);
    if (r == NULL)
        return R_FALLBACK;
    r->u.qid_only.qid = qid;
    return R_RECS;
}

/* parse_postfix(daemon, msg) */
int fl_parse_postfix(fl_str daemon, fl_str msg, fl_result *out) {
    Py_ssize_t c = FIND(msg, ": ", 0);
    if (c <= 0)
        return R_EMPTY;
    fl_str head = sl(msg, 0, c);
    fl_str rest = from(msg, c + 2);
    if (EQ(head, "NOQUEUE")) {
        if (STARTS(rest, "reject: "))
            return FAMILY(parse_reject(FL_NONE, from(rest, 8), 0, out), "postfix reject");
        if (STARTS(rest, "milter-reject: "))
            return FAMILY(parse_reject(FL_NONE, from(rest, 15), 1, out), "postfix reject");
        if (STARTS(rest, "proxy-reject: "))
            return FAMILY(parse_proxy_reject(FL_NONE, from(rest, 14), out), "postfix reject");
        for (size_t i = 0; i < sizeof qid_ignored / sizeof qid_ignored[0]; i++)
            if (starts_n(rest, qid_ignored[i].s, qid_ignored[i].n, 0))
                return R_EMPTY;
        if (STARTS(rest, "client=") || STARTS(rest, "discard:") || STARTS(rest, "milter-discard:"))
            return R_EMPTY; /* _NOQUEUE_IGNORED */
        return FAMILY(R_NONE, "postfix reject"); /* a rejection-like line of a form not known */
    }
    if (EQ(head, "Deleted") || EQ(head, "Requeued"))
        return R_EMPTY; /* postsuper's summary, "Deleted: 3 messages": no queue id */
    if (EQ(head, "proxy-reject")) /* smtpd without a queue id yet */
        return FAMILY(parse_proxy_reject(FL_NONE, rest, out), "postfix reject");
    /* head.isalnum() and 3 <= len <= 24; not (head.islower() and head.isalpha()),
     * i.e. not all of a-z */
    if (head.n < 3 || head.n > 24)
        return R_EMPTY;
    int all_lower = 1;
    for (Py_ssize_t i = 0; i < head.n; i++) {
        unsigned char ch = (unsigned char)head.p[i];
        if (!IS_ALNUM(ch))
            return R_EMPTY;
        if (!(fl_ctype[ch] & C_LOWER))
            all_lower = 0;
    }
    if (all_lower)
        return R_EMPTY;
    fl_str qid = head;
    char c0 = rest.n ? rest.p[0] : 0;
    if (c0 == 't' && STARTS(rest, "to=<"))
        return FAMILY(parse_delivery(qid, rest, daemon, out), "postfix delivery");
    if (c0 == 'c' && STARTS(rest, "client="))
        return FAMILY(parse_client(qid, rest, out), "postfix message");
    if (c0 == 'm' && STARTS(rest, "message-id=")) {
        fl_str mid = strip(from(rest, 11));
        if (STARTS(mid, "<") && ENDS(mid, ">"))
            mid = sl(mid, 1, mid.n - 1);
        if (mid.n > FL_MAX_MESSAGE_ID) /* (an ASCII line: bytes are characters) */
            return FAMILY(R_NONE, "postfix message");
        fl_record *r = add_record(out, FL_CLEANUP_MSGID);
        if (r == NULL)
            return R_FALLBACK;
        r->u.cleanup = (fl_cleanup_msgid){qid, mid};
        return R_RECS;
    }
    if (c0 == 'f' && STARTS(rest, "from=<")) {
        if (CONTAINS(rest, ", size="))
            return FAMILY(parse_qmgr_from(qid, rest, out), "postfix message");
        if (CONTAINS(rest, ", status="))
            return R_EMPTY; /* "from=<a>, status=expired, returned to sender" */
        return FAMILY(R_NONE, "postfix message");
    }
    if (EQ(rest, "removed") || STARTS(rest, "removed "))
        return one(out, FL_QMGR_REMOVED, qid);
    if (c0 == 'u' && STARTS(rest, "uid=")) {
        Py_ssize_t sp = findc(rest, ' ', 4);
        fl_str uid = sp > 0 ? sl(rest, 4, sp) : from(rest, 4);
        Py_ssize_t f = FIND(rest, "from=<", 0);
        if (f < 0 || !isdigits(uid))
            return FAMILY(R_NONE, "postfix message");
        int64_t uid_value;
        if (!digits_value(uid, &uid_value))
            return R_FALLBACK;
        Py_ssize_t end;
        fl_str sender = angle(rest, f + 6, &end);
        fl_record *r = add_record(out, FL_PICKUP);
        if (r == NULL)
            return R_FALLBACK;
        r->u.pickup = (fl_pickup){qid, uid_value, sender};
        return R_RECS;
    }
    if (STARTS(rest, "reject: "))
        return FAMILY(parse_reject(qid, from(rest, 8), 0, out), "postfix reject");
    if (STARTS(rest, "milter-reject: "))
        return FAMILY(parse_reject(qid, from(rest, 15), 1, out), "postfix reject");
    if (STARTS(rest, "proxy-reject: "))
        return FAMILY(parse_proxy_reject(qid, from(rest, 14), out), "postfix reject");
    if (STARTS(rest, "milter-discard: ") || STARTS(rest, "discard: "))
        return one(out, FL_DISCARD, qid);
    for (size_t i = 0; i < sizeof qid_ignored / sizeof qid_ignored[0]; i++)
        if (starts_n(rest, qid_ignored[i].s, qid_ignored[i].n, 0))
            return R_EMPTY;
    return FAMILY(R_NONE, "postfix message");
}
