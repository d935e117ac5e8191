/* The C twin of mailtally.ingest.parsers.exim (the reference): Exim's main log
 * text after its header, and spamd's results.  One C function per Python one. */
#include "parse_util.h"

/* stamps.is_exim_id: 6-6-2 (before 4.97) or 6-11-4 base-62 characters */
int fl_is_exim_id(fl_str s) {
    Py_ssize_t d1, d2;
    if (s.n == 16) {
        d1 = 6;
        d2 = 13;
    } else if (s.n == 23) {
        d1 = 6;
        d2 = 18;
    } else {
        return 0;
    }
    for (Py_ssize_t i = 0; i < s.n; i++) {
        if (i == d1 || i == d2) {
            if (s.p[i] != '-')
                return 0;
        } else if (!IS_ALNUM(s.p[i])) {
            return 0;
        }
    }
    return 1;
}

/* a digit string (s.isdigit() and s.isascii()) */
static int digits(fl_str s) { return isdigits(s); }

/* _skip_stamp */
static fl_str skip_stamp(fl_str msg) {
    const char *p = msg.p;
    if (msg.n > 20 && p[4] == '-' && p[7] == '-' && p[10] == ' ' && p[13] == ':' &&
        p[16] == ':' && digits(sl(msg, 0, 4))) {
        Py_ssize_t q = 19;
        if (STARTS_AT(msg, ".", q) && digits(sl(msg, q + 1, q + 4)))
            q += 4;
        fl_str z = sl(msg, q + 1, q + 6);
        if (STARTS_AT(msg, " ", q) && z.n == 5 && (z.p[0] == '+' || z.p[0] == '-') &&
            digits(from(z, 1)) && STARTS_AT(msg, " ", q + 6))
            q += 6;
        if (STARTS_AT(msg, " ", q))
            msg = from(msg, q + 1);
    }
    if (STARTS(msg, "[")) {
        Py_ssize_t e = FIND(msg, "] ", 0);
        if (e > 1 && digits(sl(msg, 1, e)))
            msg = from(msg, e + 2);
    }
    return msg;
}

/* _name: the value of " R=name" / " T=name": up to a space or ":" ("" if absent) */
static fl_str name_of(fl_str rest, const char *key, Py_ssize_t kn) {
    Py_ssize_t i = find_n(rest, key, kn, 0);
    if (i < 0)
        return sl(rest, 0, 0);
    i += kn;
    Py_ssize_t j = i;
    while (j < rest.n && rest.p[j] != ' ' && rest.p[j] != ':')
        j++;
    return sl(rest, i, j);
}

/* _bracket_ip: 1 and *ip for a "[ip]…" token, 0 if it is not one */
static int bracket_ip(fl_str tok, fl_str *ip) {
    if (!STARTS(tok, "["))
        return 0;
    Py_ssize_t e = findc(tok, ']', 0);
    if (e < 2)
        return 0;
    *ip = sl(tok, 1, e);
    return 1;
}

/* exim._past_quotes(t, i): just past the "..." string opening at t.p[i]; t.n when it
 * does not close */
static Py_ssize_t past_quotes(fl_str t, Py_ssize_t i) {
    Py_ssize_t e = quote_end(t, i);
    return e < 0 ? t.n : e;
}

/* the first c at or after i outside "..." strings (exim._unquoted says why), -1 */
static Py_ssize_t unquoted_findc(fl_str t, char c, Py_ssize_t i) {
    while (i < t.n) {
        if (t.p[i] == '"')
            i = past_quotes(t, i);
        else if (t.p[i] == c)
            return i;
        else
            i++;
    }
    return -1;
}

/* _unquoted(_FIELD, rest): the first " F=", " P=", " Q=", " R=" or " T=" outside quotes */
static Py_ssize_t field_start(fl_str rest) {
    for (Py_ssize_t i = 0; i + 2 < rest.n; i++) {
        if (rest.p[i] == '"') {
            i = past_quotes(rest, i) - 1;
            continue;
        }
        char c = rest.p[i + 1];
        if (rest.p[i] == ' ' && rest.p[i + 2] == '=' &&
            (c == 'F' || c == 'P' || c == 'Q' || c == 'R' || c == 'T'))
            return i;
    }
    return -1;
}

/* the i-th item of s.split(" ", 3) (i < 3), 0 if there is none */
static int split_item(fl_str s, int i, fl_str *out) {
    Py_ssize_t a = 0;
    for (int k = 0; k < i; k++) {
        Py_ssize_t sp = findc(s, ' ', a);
        if (sp < 0)
            return 0;
        a = sp + 1;
    }
    Py_ssize_t b = findc(s, ' ', a);
    *out = b < 0 ? from(s, a) : sl(s, a, b);
    return 1;
}

static int delivery(fl_str qid, int kind, fl_str rest, fl_result *out) {
    fl_str head, fields;
    Py_ssize_t m = field_start(rest);
    if (m >= 0) {
        head = sl(rest, 0, m);
        fields = from(rest, m);
    } else if (kind == FL_EX_FAILED) {
        Py_ssize_t c = FIND(rest, ": ", 0);
        if (c <= 0)
            return R_NONE;
        head = sl(rest, 0, c);
        while (head.n > 0 && head.p[head.n - 1] == ' ') /* .rstrip(" ") */
            head.n--;
        fields = sl(rest, 0, 0);
    } else {
        return R_NONE;
    }
    fl_str orig = FL_NONE;
    if (ENDS(head, ">")) {
        Py_ssize_t lt = RFIND(head, " <");
        if (lt < 0)
            return R_NONE;
        orig = sl(head, lt + 2, head.n - 1);
        head = sl(head, 0, lt);
    }
    if (ENDS(head, ")")) {
        Py_ssize_t lp = FIND(head, " (", 0);
        if (lp < 0)
            return R_NONE;
        head = sl(head, 0, lp);
    }
    if (head.n == 0 || (findc(head, ' ', 0) >= 0 && head.p[0] != '|' && head.p[0] != '/' &&
                        !STARTS(head, "save ")))
        return R_NONE;
    fl_str router = name_of(fields, LIT(" R=")), transport = name_of(fields, LIT(" T="));
    if (router.n == 0 && transport.n == 0 && kind != FL_EX_FAILED)
        return R_NONE;
    fl_str ip = sl(rest, 0, 0);
    Py_ssize_t h = FIND(fields, " H=", 0);
    if (h >= 0) {
        fl_str hs = from(fields, h + 3), tok;
        for (int i = 1; i <= 2; i++) {
            if (!split_item(hs, i, &tok))
                break;
            fl_str got;
            if (bracket_ip(tok, &got)) {
                ip = got;
                break;
            }
            if (!EQ(tok, "DS"))
                break;
        }
    }
    fl_record *r = add_record(out, FL_EXIM_DELIVERY);
    if (r == NULL)
        return R_FALLBACK;
    r->u.exim_delivery = (fl_exim_delivery){qid, kind, head, orig, router, transport, ip};
    return R_RECS;
}

/* _value_end */
static Py_ssize_t value_end(fl_str rest, Py_ssize_t i) {
    Py_ssize_t n = rest.n, eq = findc(rest, '=', i), sp = findc(rest, ' ', i);
    if (sp < 0)
        sp = n;
    if (eq >= 0 && eq < sp && STARTS_AT(rest, "\"", eq + 1)) {
        Py_ssize_t j = eq + 2;
        while (j < n) {
            char c = rest.p[j];
            if (c == '\\') {
                j += 2;
                continue;
            }
            if (c == '"')
                return j + 1;
            j++;
        }
        return n;
    }
    return sp;
}

static int arrival(fl_str qid, fl_str rest, fl_result *out) {
    Py_ssize_t sp = unquoted_findc(rest, ' ', 0); /* the sender's end */
    if (sp <= 0)
        return R_NONE;
    fl_str sender = sl(rest, 0, sp);
    if (EQ(sender, "<>"))
        sender = sl(rest, 0, 0);
    fl_record *r = add_record(out, FL_EXIM_ARRIVAL);
    if (r == NULL)
        return R_FALLBACK;
    fl_exim_arrival *a = &r->u.exim_arrival;
    a->qid = qid;
    a->sender = sender;
    a->client_ip = a->auth = a->local_user = FL_NONE;
    fl_str ident = sl(rest, 0, 0), protocol = sl(rest, 0, 0); /* (empty, not NULL) */
    a->message_id = sl(rest, 0, 0);
    a->n_recipients = -1;
    int has_size = 0, in_host = 0;
    Py_ssize_t i = sp + 1, n = rest.n;
    while (i < n) {
        Py_ssize_t e = value_end(rest, i);
        fl_str tok = sl(rest, i, e);
        if (in_host) {
            /* "H=name (helo) [ip]:port": the host ends at its [ip] */
            if (STARTS(tok, "[")) {
                Py_ssize_t b = findc(tok, ']', 0);
                if (b >= 2)
                    a->client_ip = sl(tok, 1, b);
                in_host = 0;
            } else if (findc(tok, '=', 0) >= 0) {
                in_host = 0;
            }
        }
        if (!in_host) {
            if (STARTS(tok, "H=")) {
                if (STARTS(tok, "H=[")) {
                    Py_ssize_t b = findc(tok, ']', 0);
                    if (b >= 4)
                        a->client_ip = sl(tok, 3, b);
                } else {
                    in_host = 1;
                }
            } else if (STARTS(tok, "A=") && a->auth.p == NULL) {
                Py_ssize_t c = findc(tok, ':', 0);
                if (c > 2) {
                    Py_ssize_t c2 = findc(tok, ':', c + 1); /* "A=auth:id:sender" */
                    a->auth = c2 > 0 ? sl(tok, c + 1, c2) : from(tok, c + 1);
                }
            } else if (STARTS(tok, "U=") && ident.n == 0) {
                ident = from(tok, 2);
            } else if (STARTS(tok, "P=") && protocol.n == 0) {
                protocol = from(tok, 2);
            } else if (STARTS(tok, "S=") && !has_size) {
                fl_str v = from(tok, 2);
                if (v.n == 0 || v.n > FL_MAX_DIGITS || !isdigits(v))
                    return R_NONE;
                if (!digits_value(v, &a->size))
                    return R_FALLBACK;
                has_size = 1;
            } else if ((STARTS(tok, "id=") || STARTS(tok, "id*=")) && a->message_id.n == 0) {
                fl_str v = from(tok, findc(tok, '=', 0) + 1);
                if (STARTS(v, "<") && ENDS(v, ">"))
                    v = sl(v, 1, v.n - 1);
                if (v.n > FL_MAX_MESSAGE_ID)
                    return R_NONE;
                a->message_id = v;
            } else if (EQ(tok, "for")) {
                /* exim._words(rest[e + 1:]): split at Python whitespace outside "..." */
                fl_str lst = from(rest, e + 1);
                int k = 0;
                Py_ssize_t x = 0;
                fl_str last = FL_NONE;
                while (1) {
                    while (x < lst.n && IS_SPACE(lst.p[x]))
                        x++;
                    if (x >= lst.n)
                        break;
                    Py_ssize_t y = x;
                    while (y < lst.n && !IS_SPACE(lst.p[y]))
                        y = lst.p[y] == '"' ? past_quotes(lst, y) : y + 1;
                    if (k >= FL_MAX_LIST)
                        return R_FALLBACK;
                    last = a->recipients[k++] = sl(lst, x, y);
                    x = y;
                }
                if (k > 0 && !ENDS(last, "<trunc>"))
                    a->n_recipients = k;
                break;
            }
        }
        i = e + 1;
    }
    if (!has_size)
        return R_NONE;
    if (a->auth.p != NULL && a->auth.n == 0)
        a->auth = FL_NONE; /* auth or None */
    /* a local submission's U= (P=local, local-…): the calling user */
    if ((EQ(protocol, "local") || STARTS(protocol, "local-")) && ident.n > 0)
        a->local_user = ident;
    return R_RECS;
}

/* _rejected */
static int rejected(fl_str qid, fl_str text, fl_result *out) {
    /* _unquoted(_REJECTED, text): not in the F=<sender> */
    Py_ssize_t k = 0;
    for (;;) {
        k = unquoted_findc(text, 'r', k);
        if (k < 0)
            return R_NONE;
        if ((k == 0 || text.p[k - 1] == ' ') && STARTS_AT(text, "rejected ", k))
            break;
        k++;
    }
    int permanent = !ENDS(sl(text, 0, k), "temporarily ");
    fl_str what = from(text, k + 9);
    if (!STARTS(what, "RCPT "))
        return R_EMPTY;
    what = from(what, 5);
    fl_str rcpt;
    if (!STARTS(what, "<")) {
        /* a recipient sent without angle brackets ("RCPT TO:a@b"), then ": why" */
        Py_ssize_t c = FIND(what, ": ", 0);
        if (c <= 0)
            return R_NONE;
        rcpt = sl(what, 0, c);
        for (Py_ssize_t i = 0; i < rcpt.n; i++) { /* no blank, control, ':', '<' or '>' */
            unsigned char ch = (unsigned char)rcpt.p[i];
            if (ch <= ' ' || ch == ':' || ch == '<' || ch == '>')
                return R_NONE;
        }
    } else {
        Py_ssize_t e = unquoted_findc(what, '>', 1);
        if (e < 0)
            return R_NONE; /* (Exim logs at most 100 characters of the command: cut off) */
        rcpt = sl(what, 1, e);
    }
    fl_record *r = add_record(out, FL_REJECT);
    if (r == NULL)
        return R_FALLBACK;
    r->u.reject = (fl_reject){qid, fl_s(LIT("RCPT")), rcpt.n ? rcpt : FL_NONE, permanent, 0};
    return R_RECS;
}

int fl_parse_exim(fl_str msg, fl_result *out) {
    msg = skip_stamp(msg);
    Py_ssize_t sp = findc(msg, ' ', 0);
    fl_str first = sp > 0 ? sl(msg, 0, sp) : msg;
    if (fl_is_exim_id(first)) {
        fl_str rest = sp > 0 ? from(msg, sp + 1) : sl(msg, 0, 0);
        if (STARTS(rest, "<= ") || STARTS(rest, "(= "))
            return FAMILY(arrival(first, from(rest, 3), out), "exim arrival");
        static const struct {
            char a, b;
            int kind;
        } markers[] = {{'=', '>', FL_EX_DELIVERED}, {'-', '>', FL_EX_MORE}, {'*', '>', FL_EX_FAKE},
                       {'>', '>', FL_EX_CUTTHROUGH}, {'*', '*', FL_EX_FAILED}};
        if (rest.n >= 3 && rest.p[2] == ' ')
            for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
                if (rest.p[0] == markers[i].a && rest.p[1] == markers[i].b)
                    return FAMILY(delivery(first, markers[i].kind, from(rest, 3), out),
                                  "exim delivery");
        if (EQ(rest, "Completed") || STARTS(rest, "Completed ")) {
            fl_record *r = add_record(out, FL_EXIM_COMPLETED);
            if (r == NULL)
                return R_FALLBACK;
            r->u.exim_completed.qid = first;
            return R_RECS;
        }
        if (CONTAINS(rest, " rejected ") || STARTS(rest, "rejected "))
            return FAMILY(rejected(first, rest, out), "exim reject");
        return R_EMPTY; /* "== … defer", frozen, "SMTP error from remote…", "removed by …" */
    }
    if (CONTAINS(msg, " rejected "))
        return FAMILY(rejected(FL_NONE, msg, out), "exim reject");
    return R_EMPTY; /* connections, queue runs, "no host name found", TLS errors… */
}

int fl_parse_spamd(fl_str msg, fl_result *out) {
    if (!STARTS(msg, "spamd: result: "))
        return R_EMPTY;
    fl_str rest = from(msg, 15);
    if (!(STARTS(rest, "Y ") || STARTS(rest, ". ")))
        return FAMILY(R_NONE, "spamd verdict");
    int spam = rest.p[0] == 'Y';
    Py_ssize_t k = FIND(rest, ",mid=", 0);
    if (k < 0)
        return FAMILY(R_NONE, "spamd verdict");
    fl_str v = from(rest, k + 5);
    Py_ssize_t c = findc(v, ',', 0);
    if (c >= 0)
        v = sl(v, 0, c);
    if (!STARTS(v, "<") || !ENDS(v, ">") || v.n < 3)
        return R_EMPTY; /* "mid=(unknown)": a message without a Message-ID cannot be joined */
    fl_str mid = sl(v, 1, v.n - 1);
    if (mid.n > FL_MAX_MESSAGE_ID)
        return FAMILY(R_NONE, "spamd verdict");
    fl_record *r = add_record(out, FL_SPAMD_RESULT);
    if (r == NULL)
        return R_FALLBACK;
    r->u.spamd_result = (fl_spamd_result){mid, spam};
    return R_RECS;
}
