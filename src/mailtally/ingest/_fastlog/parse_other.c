/* Dovecot, rspamd, amavis, Roundcube and quota-report lines -> records: the C twin
 * of mailtally/ingest/parsers/{dovecot,rspamd,amavis,roundcube,quota}.py (the
 * reference; same function names, same order of tests). */
#include "parse_util.h"

/* ==== dovecot.py ====================================================================== */

static const struct {
    const char *s;
    Py_ssize_t n;
} sieve_ignored[] = {
    {LIT("discarded")},
    {LIT("discard")},
    {LIT("marked message to be discarded")},
    {LIT("not sending")},
    {LIT("sent notification")},
    {LIT("failed")},
    {LIT("keep")},
    {LIT("kept")},
    {LIT("duplicate")},
    {LIT("rejected")},
    {LIT("refused")},
    {LIT("sent rejection")},
    {LIT("sending")},
    {LIT("aborted")},
    {LIT("execution")},
    {LIT("skipped")},
};

/* _LOGIN_IGNORED: login-process lines understood and not counted (dovecot.py). */
static const struct {
    const char *s;
    Py_ssize_t n;
} login_ignored[] = {
    {LIT("Disconnected")},
    {LIT("Aborted login")},
    {LIT("Login aborted")},
    {LIT("Login failed")},
    {LIT("Maximum number of connections")},
    {LIT("proxy(")},
    {LIT("ID sent:")},
    {LIT("Connection closed")},
    {LIT("Disconnecting")},
};

static int parse_login(fl_str rest, int service, fl_result *out) {
    Py_ssize_t u = FIND(rest, "user=<", 0);
    if (u < 0)
        return R_NONE;
    u += 6;
    Py_ssize_t e = FIND(rest, ">, ", u);
    if (e < 0) {
        e = rfindc(rest, '>');
        if (e < u)
            return R_NONE;
    }
    fl_str user = sl(rest, u, e);
    if (user.n == 0)
        return R_NONE;
    fl_str rip = sl(rest, 0, 0);
    Py_ssize_t r = FIND(rest, "rip=", e);
    if (r >= 0) {
        r += 4;
        Py_ssize_t k = findc(rest, ',', r);
        rip = k < 0 ? from(rest, r) : sl(rest, r, k);
    }
    fl_record *rec = add_record(out, FL_MAIL_LOGIN);
    if (rec == NULL)
        return R_FALLBACK;
    rec->u.mail_login = (fl_mail_login){user, strip(rip), service};
    return R_RECS;
}

/* _context(sub): user and session of lmtp(user)<pid><session> & co; 0 for None. */
static int context(fl_str sub, fl_str *user, fl_str *session) {
    Py_ssize_t p = findc(sub, '(', 0);
    Py_ssize_t q = findc(sub, ')', p + 1);
    if (p < 0 || q < 0)
        return 0;
    *user = sl(sub, p + 1, q);
    Py_ssize_t c = FIND(*user, ", ", 0);
    if (c >= 0)
        *user = from(*user, c + 2); /* Dovecot 2.1: lmtp(12345, alice@example.com) */
    *session = sl(sub, 0, 0);
    fl_str tail = from(sub, q + 1);
    if (ENDS(tail, ">")) {
        Py_ssize_t b = rfindc(tail, '<');
        if (b >= 0)
            *session = sl(tail, b + 1, tail.n - 1);
    }
    return 1;
}

static int sieve(fl_result *out, fl_str user, int action, fl_str target, fl_str msgid,
                 fl_str session) {
    fl_record *r = add_record(out, FL_SIEVE);
    if (r == NULL)
        return R_FALLBACK;
    r->u.sieve = (fl_sieve){user, action, target, msgid, session};
    return R_RECS;
}

static int parse_sieve(fl_str user, fl_str session, fl_str rest, fl_result *out) {
    if (!STARTS(rest, "msgid="))
        return R_EMPTY; /* script compile errors and the like */
    fl_str msgid, body;
    /* a second ">: " after the Message-ID's end: a sender's forged action (why:
     * dovecot._parse_sieve); a bare Message-ID other than "unspecified": not told */
    if (STARTS(rest, "msgid=<")) {
        Py_ssize_t e = FIND(rest, ">: ", 7);
        if (e < 0 || FIND(rest, ">: ", e + 3) >= 0)
            return R_NONE;
        msgid = sl(rest, 7, e);
        body = from(rest, e + 3);
    } else if (STARTS(rest, "msgid=unspecified: ")) {
        msgid = sl(rest, 6, 17);
        body = from(rest, 19);
    } else {
        return R_NONE;
    }
    if (msgid.n > FL_MAX_MESSAGE_ID) /* (an ASCII line: bytes are characters) */
        return R_NONE;
    Py_ssize_t a = FIND(body, " action: ", 0);
    if (0 < a && a < 24 && findc(sl(body, 0, a), ' ', 0) < 0)
        body = from(body, a + 9); /* Pigeonhole 0.5: "fileinto action: stored mail into …" */
    if (STARTS(body, "sent vacation response to <")) {
        fl_str target = rstrip(from(body, 27));
        while (target.n > 0 && target.p[target.n - 1] == '>') /* .rstrip(">") */
            target.n--;
        return sieve(out, user, FL_VACATION, target, msgid, session);
    }
    if (STARTS(body, "forwarded to <")) {
        Py_ssize_t e = findc(body, '>', 14);
        fl_str target = e < 0 ? from(body, 14) : sl(body, 14, e);
        return sieve(out, user, FL_REDIRECT, target, msgid, session);
    }
    if (STARTS(body, "stored mail into mailbox ")) {
        fl_str box = strip(from(body, 25));
        if (box.n >= 2 && (box.p[0] == '\'' || box.p[0] == '"')) {
            Py_ssize_t e = rfindc(box, box.p[0]);
            if (e > 0)
                box = sl(box, 1, e);
        }
        return sieve(out, user, FL_FILEINTO, box, msgid, session);
    }
    if (STARTS(body, "rejected message from <")) {
        /* Pigeonhole's reject and ereject: not kept, and refused for the user */
        Py_ssize_t e = findc(body, '>', 23);
        fl_str target = e < 0 ? from(body, 23) : sl(body, 23, e);
        return sieve(out, user, FL_SIEVE_REJECT, target, msgid, session);
    }
    /* dovecot.py _REJECTED_SILENTLY: the same reject without its refusal sent */
    if (STARTS(body, "not sending reject message to <>") ||
        STARTS(body, "not sending reject message (would cause second response to sender)"))
        return sieve(out, user, FL_SIEVE_REJECT, fl_s(LIT("")), msgid, session);
    for (size_t i = 0; i < sizeof sieve_ignored / sizeof sieve_ignored[0]; i++)
        if (starts_n(body, sieve_ignored[i].s, sieve_ignored[i].n, 0))
            return R_EMPTY;
    return R_NONE;
}

/* parse_dovecot(msg) after its split at the first ": " (msg[:c], msg[c+2:]); the
 * caller of a Dovecot file line (parsers._dovecot_file) has the two parts apart. */
/* _MAX_SESSION: the longest session id taken in "lmtp(user): SESSIONID: sieve:". */
#define MAX_SESSION 64

int fl_parse_dovecot_parts(fl_str sub, fl_str rest, fl_result *out) {
    static const struct {
        const char *s;
        Py_ssize_t n;
    } levels[] = {{LIT("Info: ")},  {LIT("Debug: ")}, {LIT("Warning: ")},
                  {LIT("Error: ")}, {LIT("Fatal: ")}, {LIT("Panic: ")}};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (starts_n(rest, levels[i].s, levels[i].n, 0)) {
            if (i != 0) /* not "Info: " */
                return R_EMPTY;
            rest = from(rest, 6);
            break;
        }
    }
    int service = EQ(sub, "imap-login") ? FL_IMAP4 : EQ(sub, "pop3-login") ? FL_POP3 : 0;
    if (service) {
        /* "Login: " is Dovecot 2.3 and older, "Logged in: " Dovecot 2.4 */
        if (STARTS(rest, "Login: ") || STARTS(rest, "Logged in: "))
            return FAMILY(parse_login(rest, service, out), "dovecot login");
        for (size_t i = 0; i < sizeof login_ignored / sizeof login_ignored[0]; i++)
            if (starts_n(rest, login_ignored[i].s, login_ignored[i].n, 0))
                return R_EMPTY;
        return FAMILY(R_NONE, "dovecot login");
    }
    if (STARTS(sub, "lmtp(") || STARTS(sub, "lda(") || STARTS(sub, "deliver(")) {
        fl_str user, session;
        if (STARTS(rest, "sieve: ")) {
            if (!context(sub, &user, &session) || user.n == 0)
                return FAMILY(R_NONE, "dovecot sieve");
            return FAMILY(parse_sieve(user, session, from(rest, 7), out), "dovecot sieve");
        }
        /* Dovecot 2.2: "lmtp(user): SESSIONID: sieve: msgid=..." (_parse_sieve_session) */
        Py_ssize_t c = FIND(sl(rest, 0, MAX_SESSION + 9), ": sieve: ", 1);
        if (c < 0)
            return R_EMPTY;
        fl_str sess = sl(rest, 0, c);
        if (findc(sess, ' ', 0) >= 0)
            return R_EMPTY;
        if (!context(sub, &user, &session) || user.n == 0)
            return FAMILY(R_NONE, "dovecot sieve");
        return FAMILY(parse_sieve(user, session.n ? session : sess, from(rest, c + 9), out),
                      "dovecot sieve");
    }
    return R_EMPTY;
}

int fl_parse_dovecot(fl_str msg, fl_result *out) {
    Py_ssize_t c = FIND(msg, ": ", 0);
    if (c <= 0)
        return R_EMPTY;
    return fl_parse_dovecot_parts(sl(msg, 0, c), from(msg, c + 2), out);
}

/* ==== rspamd.py ======================================================================= */

/* Where the action's text starts if an action's opening "(name: T (" (rspamd's
 * _CANDIDATE) starts at t.p[i] (a "("), else -1.  The name is \w[\w-]*, which
 * can only end where ": " follows: the opening at a given "(" is unique. */
static Py_ssize_t action_opening(fl_str t, Py_ssize_t i) {
    Py_ssize_t j = i + 1;
    if (j >= t.n || !IS_WORD(t.p[j]))
        return -1;
    j++;
    while (j < t.n && (IS_WORD(t.p[j]) || t.p[j] == '-'))
        j++;
    if (!(j + 5 <= t.n && t.p[j] == ':' && t.p[j + 1] == ' '))
        return -1;
    char f = t.p[j + 2];
    if (!(f == 'T' || f == 'F' || f == 'S') || t.p[j + 3] != ' ' || t.p[j + 4] != '(')
        return -1;
    return j + 5;
}

/* rspamd._action_at(text, pos): the search of (not re.ASCII; \w on ASCII = [A-Za-z0-9_])
 *     \(\w[\w-]*: ([TFS]) \(([^)]*)\)
 * [\w-]* can only end where ": " follows, and [^)]* only at the first ")": the
 * match at a given "(" is unique; the leftmost "(" that matches wins. */
static int action_search(fl_str t, Py_ssize_t pos, char *flag, fl_str *action) {
    for (Py_ssize_t i = findc(t, '(', pos); i >= 0; i = findc(t, '(', i + 1)) {
        Py_ssize_t j = action_opening(t, i);
        if (j < 0)
            continue;
        Py_ssize_t e = findc(t, ')', j);
        if (e < 0)
            return 0; /* no ")" after this "(": none after a later one either */
        *flag = t.p[j - 3];
        *action = sl(t, j, e);
        return 1;
    }
    return 0;
}

/* rspamd._CANDIDATE.search(t, pos) is not None: an action's opening at or after pos */
static int action_opening_after(fl_str t, Py_ssize_t pos) {
    for (Py_ssize_t i = findc(t, '(', pos); i >= 0; i = findc(t, '(', i + 1))
        if (action_opening(t, i) >= 0)
            return 1;
    return 0;
}

/* rspamd._qid_at(rest): where "qid: <" is, -1 for none, -2 when the line names more
 * than one (the reasons are in rspamd.py) */
static Py_ssize_t qid_at(fl_str rest) {
    Py_ssize_t q = FIND(rest, "qid: <", 0);
    if (q >= 0 && FIND(rest, "qid: <", q + 6) >= 0)
        return -2;
    if (STARTS(rest, "id: <")) {
        Py_ssize_t s = findc(rest, ' ', 5);
        if (s >= 2 && rest.p[s - 2] == '>' && rest.p[s - 1] == ',' && q != s + 1)
            return -1;
    }
    return q;
}

/* rspamd._task(rest): the verdict of a task line's text */
static int task(fl_str rest, fl_result *out) {
    static const struct {
        const char *s;
        Py_ssize_t n;
        int verdict;
    } verdicts[] = {
        {LIT("no action"), FL_HAM},    {LIT("greylist"), FL_HAM},
        {LIT("add header"), FL_SPAM},  {LIT("rewrite subject"), FL_SPAM},
        {LIT("quarantine"), FL_SPAM},  {LIT("reject"), FL_REJECT_VERDICT},
        {LIT("discard"), FL_REJECT_VERDICT}, {LIT("soft reject"), FL_TEMPFAIL},
        {LIT("soft_reject"), FL_TEMPFAIL},
    };
    Py_ssize_t q = qid_at(rest);
    if (q == -2)
        return FAMILY(R_NONE, "rspamd verdict");
    if (q < 0)
        return R_EMPTY;
    Py_ssize_t e = findc(rest, '>', q + 6);
    if (e < 0)
        return FAMILY(R_NONE, "rspamd verdict");
    fl_str qid = sl(rest, q + 6, e);
    if (qid.n == 0 || EQ(qid, "undef"))
        return R_EMPTY;
    char flag;
    fl_str action;
    if (!action_search(rest, e, &flag, &action) ||
        action_opening_after(rest, action.p - rest.p))
        return FAMILY(R_NONE, "rspamd verdict");
    /* _VERDICTS.get(action.strip().lower()) */
    action = strip(action);
    int verdict = 0;
    for (size_t k = 0; k < sizeof verdicts / sizeof verdicts[0] && !verdict; k++) {
        if (action.n != verdicts[k].n)
            continue;
        Py_ssize_t m = 0;
        while (m < action.n) {
            char c = action.p[m];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != verdicts[k].s[m])
                break;
            m++;
        }
        if (m == action.n)
            verdict = verdicts[k].verdict;
    }
    if (!verdict)
        verdict = flag == 'T' ? FL_SPAM : FL_HAM;
    fl_record *r = add_record(out, FL_SPAM_VERDICT);
    if (r == NULL)
        return R_FALLBACK;
    r->u.spam_verdict = (fl_spam_verdict){qid, verdict, fl_s(LIT("rspamd"))};
    return R_RECS;
}


/* -- rspamd's JSON log (rspamd.json_members and its helpers) ---------------------------- */

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#define JSON_WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

static Py_ssize_t json_ws(fl_str t, Py_ssize_t i) {
    while (i < t.n && JSON_WS(t.p[i]))
        i++;
    return i;
}

/* rspamd._string(text, i): the JSON string opening at t.p[i] (a quote) into *val, *end
 * just past its closing quote, *cut if the text ends inside it.  A string without a
 * backslash is a slice of t; one with escapes is decoded into buf at *used (buf holds
 * t.n bytes: what is decoded is never longer than its text, and the strings decoded
 * are disjoint parts of t).  1, 0 for None (an escape JSON has not), -1: fall back (a
 * \u escape beyond ASCII: the C parser hands out ASCII only). */
static int json_string(fl_str t, Py_ssize_t i, char *buf, Py_ssize_t *used, fl_str *val,
                       Py_ssize_t *end, int *cut) {
    Py_ssize_t n = t.n, j = i + 1, q = j;
    while (q < n && t.p[q] != '"' && t.p[q] != '\\')
        q++;
    if (q >= n || t.p[q] == '"') {
        *val = sl(t, j, q);
        *cut = q >= n;
        *end = q >= n ? n : q + 1;
        return 1;
    }
    char *d0 = buf + *used, *d = d0;
    memcpy(d, t.p + j, (size_t)(q - j));
    d += q - j;
    j = q;
    for (;;) {
        if (j >= n) {
            *cut = 1;
            *end = n;
            break;
        }
        char c = t.p[j];
        if (c == '"') {
            *cut = 0;
            *end = j + 1;
            break;
        }
        if (c != '\\') {
            *d++ = c;
            j++;
            continue;
        }
        if (j + 1 >= n) {
            *cut = 1;
            *end = n;
            break;
        }
        char e = t.p[j + 1];
        if (e == 'u') {
            int code = 0, k;
            for (k = 0; k < 4 && j + 2 + k < n; k++) {
                int h = hexval(t.p[j + 2 + k]);
                if (h < 0)
                    return 0;
                code = code * 16 + h;
            }
            if (k < 4) {
                *cut = 1;
                *end = n;
                break;
            }
            if (code >= 0x80)
                return -1;
            *d++ = (char)code;
            j += 6;
            continue;
        }
        switch (e) {
        case '"':
        case '\\':
        case '/':
            *d++ = e;
            break;
        case 'b':
            *d++ = '\b';
            break;
        case 'f':
            *d++ = '\f';
            break;
        case 'n':
            *d++ = '\n';
            break;
        case 'r':
            *d++ = '\r';
            break;
        case 't':
            *d++ = '\t';
            break;
        default:
            return 0;
        }
        j += 2;
    }
    *val = fl_s(d0, d - d0);
    *used += d - d0;
    return 1;
}

/* The end of the JSON number at t.p[i] (rspamd._NUMBER.match), or -1:
 *     -?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?  */
static Py_ssize_t json_number(fl_str t, Py_ssize_t i) {
    Py_ssize_t n = t.n, j = i;
    if (j < n && t.p[j] == '-')
        j++;
    Py_ssize_t d0 = j;
    while (j < n && t.p[j] >= '0' && t.p[j] <= '9')
        j++;
    if (j == d0)
        return -1;
    if (j + 1 < n && t.p[j] == '.' && t.p[j + 1] >= '0' && t.p[j + 1] <= '9') {
        j += 2;
        while (j < n && t.p[j] >= '0' && t.p[j] <= '9')
            j++;
    }
    if (j < n && (t.p[j] == 'e' || t.p[j] == 'E')) {
        Py_ssize_t k = j + 1;
        if (k < n && (t.p[k] == '+' || t.p[k] == '-'))
            k++;
        if (k < n && t.p[k] >= '0' && t.p[k] <= '9') {
            while (k < n && t.p[k] >= '0' && t.p[k] <= '9')
                k++;
            j = k;
        }
    }
    return j;
}

/* The members rspamd's rules read; the others are only checked for their syntax. */
enum { JM_TS, JM_WORKER_TYPE, JM_FUNCTION, JM_MESSAGE, JM_N };
typedef struct {
    fl_str v[JM_N]; /* v.p == NULL: absent */
    int str[JM_N];  /* a string (else a number or literal, rspamd.Raw) */
} json_members_t;

static int member_index(fl_str key) {
    if (EQ(key, "ts"))
        return JM_TS;
    if (EQ(key, "worker_type"))
        return JM_WORKER_TYPE;
    if (EQ(key, "function"))
        return JM_FUNCTION;
    if (EQ(key, "message"))
        return JM_MESSAGE;
    return -1;
}

/* rspamd.json_members(t) (t starts with "{"), the members of JM_* into *m: 1, 0 for
 * None, -1: fall back. */
static int json_members(fl_str t, fl_buf *buf, json_members_t *m) {
    static const struct {
        const char *s;
        Py_ssize_t n;
    } lits[] = {{LIT("true")}, {LIT("false")}, {LIT("null")}};
    for (int k = 0; k < JM_N; k++) {
        m->v[k] = FL_NONE;
        m->str[k] = 0;
    }
    char *b = NULL;
    Py_ssize_t used = 0;
    if (findc(t, '\\', 0) >= 0 && (b = fl_buf_reserve(buf, t.n)) == NULL)
        return -1;
    Py_ssize_t n = t.n, i = json_ws(t, 1), end;
    int cut, r;
    if (i < n && t.p[i] == '}')
        return json_ws(t, i + 1) == n;
    for (;;) {
        if (i >= n)
            return 1;
        if (t.p[i] != '"')
            return 0;
        fl_str key, val;
        if ((r = json_string(t, i, b, &used, &key, &end, &cut)) <= 0)
            return r;
        if (cut)
            return 1;
        int idx = member_index(key);
        i = json_ws(t, end);
        if (i >= n)
            return 1;
        if (t.p[i] != ':')
            return 0;
        i = json_ws(t, i + 1);
        if (i >= n)
            return 1;
        if (t.p[i] == '"') {
            if ((r = json_string(t, i, b, &used, &val, &end, &cut)) <= 0)
                return r;
            if (idx >= 0) {
                m->v[idx] = val;
                m->str[idx] = 1;
            }
            if (cut)
                return 1;
            i = end;
        } else {
            Py_ssize_t e = json_number(t, i);
            if (e < 0) {
                for (size_t k = 0; k < sizeof lits / sizeof lits[0] && e < 0; k++) {
                    if (starts_n(t, lits[k].s, lits[k].n, i))
                        e = i + lits[k].n;
                    else if (n - i < lits[k].n && memcmp(t.p + i, lits[k].s, (size_t)(n - i)) == 0)
                        return 1; /* cut inside a literal */
                }
                if (e < 0)
                    return 0;
            }
            if (e >= n)
                return 1; /* a number at the very end may be cut: left out */
            if (t.p[e] != ',' && t.p[e] != '}' && !JSON_WS(t.p[e]))
                return 0;
            if (idx >= 0) {
                m->v[idx] = sl(t, i, e);
                m->str[idx] = 0;
            }
            i = e;
        }
        i = json_ws(t, i);
        if (i >= n)
            return 1;
        if (t.p[i] == '}')
            return json_ws(t, i + 1) == n;
        if (t.p[i] != ',')
            return 0;
        i = json_ws(t, i + 1);
    }
}

/* rspamd._json_task(members): R_OTHER for None */
static int json_task(const json_members_t *m, fl_result *out) {
    fl_str fn = m->v[JM_FUNCTION], text = m->v[JM_MESSAGE];
    if (fn.p == NULL || !m->str[JM_FUNCTION])
        return R_OTHER;
    if (text.p == NULL)
        text = fl_s(LIT(""));
    else if (!m->str[JM_MESSAGE])
        return R_OTHER;
    return EQ(fn, "rspamd_task_write_log") ? task(text, out) : R_EMPTY;
}

int fl_parse_rspamd(fl_str msg, fl_buf *buf, fl_result *out) {
    if (STARTS(msg, "{")) {
        json_members_t m;
        int r = json_members(msg, buf, &m);
        if (r < 0)
            return R_FALLBACK;
        if (r > 0 && (r = json_task(&m, out)) != R_OTHER)
            return r;
        /* not rspamd's JSON object: read as text, as any other line */
    }
    Py_ssize_t i = FIND(msg, "rspamd_task_write_log: ", 0);
    if (i < 0)
        return R_EMPTY;
    return task(from(msg, i + 23), out);
}

/* rspamd._MAX_TS */
#define MAX_TS INT64_C(253402300799)

int fl_parse_rspamd_json(fl_str line, fl_buf *buf, fl_result *out, int64_t *t) {
    json_members_t m;
    *t = -1;
    int r = json_members(line, buf, &m);
    if (r < 0)
        return R_FALLBACK;
    if (r == 0)
        return R_OTHER;
    fl_str ts = m.v[JM_TS];
    if (ts.p == NULL || m.str[JM_TS] || m.v[JM_WORKER_TYPE].p == NULL || !m.str[JM_WORKER_TYPE])
        return R_OTHER;
    r = json_task(&m, out);
    if (r == R_OTHER)
        return r;
    /* _TS.fullmatch(ts): ([0-9]{1,12})(?:\.[0-9]+)?, then at most _MAX_TS */
    Py_ssize_t d = 0;
    while (d < ts.n && ts.p[d] >= '0' && ts.p[d] <= '9')
        d++;
    int ok = d >= 1 && d <= 12;
    if (ok && d < ts.n) {
        Py_ssize_t f = d + 1;
        while (f < ts.n && ts.p[f] >= '0' && ts.p[f] <= '9')
            f++;
        ok = ts.p[d] == '.' && f > d + 1 && f == ts.n;
    }
    if (ok) {
        int64_t v = 0;
        for (Py_ssize_t k = 0; k < d; k++)
            v = v * 10 + (ts.p[k] - '0');
        if (v <= MAX_TS)
            *t = v;
    }
    return r;
}

/* ==== amavis.py ======================================================================= */

/* _word_end(t, i): where the word (alnum or "_": a queue id's) at i ends. */
static Py_ssize_t word_end(fl_str t, Py_ssize_t i) {
    while (i < t.n && IS_WORD(t.p[i]))
        i++;
    return i;
}

/* _token(text, name): the word after the first `name`, or None. */
static fl_str token(fl_str text, const char *name, Py_ssize_t m) {
    Py_ssize_t i = find_n(text, name, m, 0);
    if (i < 0)
        return FL_NONE;
    i += m;
    Py_ssize_t e = word_end(text, i);
    return e > i ? sl(text, i, e) : FL_NONE;
}

/* amavis._queue_id(msg): the Queue-ID amavis wrote, read back from the last
 * ", Hits: " over ", mail_id: WORD" and up to two "<...>" ids; else (a split line,
 * another template) the first "Queue-ID: " as token() reads it. */
static fl_str queue_id(fl_str msg) {
    Py_ssize_t h = ENDS(msg, "...") ? -1 : RFIND(msg, ", Hits: ");
    if (h >= 0) {
        Py_ssize_t end = h;
        Py_ssize_t k = RFIND(sl(msg, 0, end), ", mail_id: ");
        if (k >= 0 && k + 11 < end && word_end(msg, k + 11) == end)
            end = k;
        for (int r = 0; r < 2; r++) {
            if (end < 1 || msg.p[end - 1] != '>')
                break;
            Py_ssize_t o = findc(sl(msg, 0, end), '<', rfindc(sl(msg, 0, end - 1), '>') + 1);
            if (o >= 14 && STARTS_AT(msg, ", Message-ID: ", o - 14))
                end = o - 14;
            else if (o >= 21 && STARTS_AT(msg, ", Resent-Message-ID: ", o - 21))
                end = o - 21;
            else
                break;
        }
        k = RFIND(sl(msg, 0, end), ", Queue-ID: ");
        if (k >= 0 && k + 12 < end && word_end(msg, k + 12) == end)
            return sl(msg, k + 12, end);
    }
    return token(msg, LIT("Queue-ID: "));
}

/* _HEAD.match(msg): ^\([^)]*\) (Passed|Blocked) ([A-Z][A-Z0-9-]*)
 * Returns the end of the match, or -1; *passed and *category for a match. */
static Py_ssize_t head_match(fl_str t, int *passed, fl_str *category) {
    if (!STARTS(t, "("))
        return -1;
    Py_ssize_t j = findc(t, ')', 1);
    if (j < 0)
        return -1;
    j++;
    if (STARTS_AT(t, " Passed ", j)) {
        *passed = 1;
        j += 8;
    } else if (STARTS_AT(t, " Blocked ", j)) {
        *passed = 0;
        j += 9;
    } else {
        return -1;
    }
    if (j >= t.n || !(fl_ctype[(unsigned char)t.p[j]] & C_UPPER))
        return -1;
    Py_ssize_t c = j++;
    while (j < t.n && ((fl_ctype[(unsigned char)t.p[j]] & (C_UPPER | C_DIGIT)) || t.p[j] == '-'))
        j++;
    *category = sl(t, c, j);
    return j;
}

/* One <[^>]*> at x: the index just past its ">", or -1. */
static Py_ssize_t angled(fl_str t, Py_ssize_t x) {
    if (x >= t.n || t.p[x] != '<')
        return -1;
    Py_ssize_t y = findc(t, '>', x + 1);
    return y < 0 ? -1 : y + 1;
}

/* amavis._rcpts(msg, pos): the search of
 *     <[^>]*> -> ((?:<[^>]*>,)*<[^>]*>)
 * Each <[^>]*> ends at the first ">" after its "<".  The greedy (…,)* takes
 * "<…>," items as long as it can; the last item then needs no comma -- and if no
 * item follows the last comma, the regex gives that comma's item back. */
static int rcpts_search(fl_str t, Py_ssize_t pos, fl_str *group) {
    Py_ssize_t p = findc(t, '<', pos);
    while (p >= 0) {
        Py_ssize_t y = findc(t, '>', p + 1);
        if (y < 0)
            return 0;
        /* Every "<" before y has the same first ">" (y): try the chain once for all. */
        if (STARTS_AT(t, " -> ", y + 1)) {
            Py_ssize_t x0 = y + 5, x = x0, last_end = -1;
            for (;;) {
                Py_ssize_t end = angled(t, x);
                if (end < 0)
                    break;
                last_end = end;
                if (end < t.n && t.p[end] == ',')
                    x = end + 1;
                else
                    break;
            }
            if (last_end >= 0) {
                *group = sl(t, x0, last_end);
                return 1;
            }
        }
        p = findc(t, '<', y + 1);
    }
    return 0;
}

static fl_str unquote_rcpt(fl_str a) {
    /* a[1:] (a starts with "<"), then a[:-1] if it ends with ">" */
    a = from(a, 1);
    if (ENDS(a, ">"))
        a.n--;
    return a;
}

/* amavis.MAX_QUEUED_AS */
#define FL_MAX_QUEUED_AS 64

/* amavis._queued_as(msg): the queue ids after the last "queued_as: " (none if a ">"
 * follows it), "A/B/C" giving each,
 * into ids[] (room for FL_MAX_QUEUED_AS + 1); their number, at most one more than
 * FL_MAX_QUEUED_AS.  A word ending where the "..." of amavis's split of a long line
 * begins is left out. */
static int queued_as(fl_str msg, fl_str *ids) {
    Py_ssize_t n = msg.n, cut = ENDS(msg, "...") ? n - 3 : -1;
    int m = 0;
    /* only the last "queued_as: ", and none with a ">" after it: the earlier text and
     * any "<...>" (sender, recipients, Message-ID) is the sender's (amavis.py) */
    Py_ssize_t k = RFIND(msg, "queued_as: ");
    if (k < 0 || findc(msg, '>', k) >= 0)
        return 0;
    Py_ssize_t i = k + 11;
    for (;;) {
        Py_ssize_t e = word_end(msg, i);
        if (e == i || e == cut)
            break;
        ids[m++] = sl(msg, i, e);
        if (m > FL_MAX_QUEUED_AS)
            return m;
        if (!(e + 1 < n && msg.p[e] == '/' && IS_WORD(msg.p[e + 1])))
            break;
        i = e + 1;
    }
    return m;
}

/* Whether msg may be a piece of an entry amavis split (parsers._amavis_part): it
 * ends in "...", or "..." follows the "(LOGID) " and an alert mark.  A superset of
 * _amavis_part's test (no bound on the log id's length). */
static int amavis_piece(fl_str msg) {
    if (ENDS(msg, "..."))
        return 1;
    Py_ssize_t j = findc(msg, ')', 1);
    if (j < 0 || !STARTS_AT(msg, " ", j + 1))
        return 0;
    Py_ssize_t p = j + 2;
    if (STARTS_AT(msg, "(!)", p))
        p += 3;
    else if (STARTS_AT(msg, "(!!)", p))
        p += 4;
    return STARTS_AT(msg, "...", p);
}

int fl_parse_amavis(fl_str msg, fl_result *out) {
    if (!STARTS(msg, "("))
        return R_EMPTY;
    /* The pieces of a split entry are joined by the Python parser of the source,
     * which keeps them from line to line (LineParser._amavis): declined, so that it
     * reads every piece whichever parser reads the other lines. */
    if (amavis_piece(msg))
        return R_FALLBACK;
    int passed = 0;
    fl_str category = FL_NONE;
    Py_ssize_t mend = head_match(msg, &passed, &category);
    if (mend < 0) {
        if (CONTAINS(msg, ") Passed") || CONTAINS(msg, ") Blocked"))
            return FAMILY(R_NONE, "amavis verdict");
        return R_EMPTY;
    }
    fl_str qid = queue_id(msg);
    if (!passed) {
        fl_str group;
        Py_ssize_t arrow = FIND(msg, " -> <", 0); /* once (why: amavis.parse_amavis) */
        if (!rcpts_search(msg, mend, &group) || FIND(msg, " -> <", arrow + 5) >= 0)
            return FAMILY(R_NONE, "amavis verdict");
        fl_record *r = add_record(out, FL_FILTER_BLOCKED);
        if (r == NULL)
            return R_FALLBACK;
        fl_filter_blocked *fb = &r->u.filter_blocked;
        fb->qid = qid;
        fb->category = category;
        fb->n_recipients = fb->n_flags = 0;
        /* tuple(a[1:] for a in group.split(">,") if a.startswith("<")), then a[:-1]
         * if a.endswith(">"): the items hold no ">", so every piece starts with "<" */
        Py_ssize_t a = 0;
        for (;;) {
            Py_ssize_t k = FIND(group, ">,", a);
            fl_str piece = k < 0 ? from(group, a) : sl(group, a, k);
            if (STARTS(piece, "<")) {
                if (fb->n_recipients >= FL_MAX_LIST)
                    return R_FALLBACK;
                fb->recipients[fb->n_recipients++] = unquote_rcpt(piece);
            }
            if (k < 0)
                break;
            a = k + 2;
        }
        /* _FLAGS.match(msg, m.end()): (?: \([^)]*\))? \{([^}]*)\} */
        Py_ssize_t f = mend;
        if (STARTS_AT(msg, " (", f)) {
            Py_ssize_t c = findc(msg, ')', f + 2);
            if (c >= 0 && STARTS_AT(msg, " {", c + 1))
                f = c + 1;
        }
        int has_quarantined = 0;
        if (STARTS_AT(msg, " {", f)) {
            Py_ssize_t c = findc(msg, '}', f + 2);
            if (c >= 0) {
                fl_str flags = sl(msg, f + 2, c);
                Py_ssize_t b = 0;
                for (;;) {
                    Py_ssize_t k = findc(flags, ',', b);
                    fl_str x = strip(k < 0 ? from(flags, b) : sl(flags, b, k));
                    if (x.n > 0) {
                        if (fb->n_flags >= FL_MAX_LIST)
                            return R_FALLBACK;
                        fb->flags[fb->n_flags++] = x;
                        if (EQ(x, "Quarantined"))
                            has_quarantined = 1;
                    }
                    if (k < 0)
                        break;
                    b = k + 1;
                }
            }
        }
        if (!has_quarantined && CONTAINS(msg, ", quarantine: ")) {
            if (fb->n_flags >= FL_MAX_LIST)
                return R_FALLBACK;
            fb->flags[fb->n_flags++] = fl_s(LIT("Quarantined"));
        }
        return R_RECS;
    }
    /* category.split("-")[0] in {"SPAM", "SPAMMY"} */
    Py_ssize_t dash = findc(category, '-', 0);
    fl_str cat0 = dash < 0 ? category : sl(category, 0, dash);
    int verdict = (EQ(cat0, "SPAM") || EQ(cat0, "SPAMMY")) ? FL_SPAM : FL_HAM;
    fl_str amavis = fl_s(LIT("amavis"));
    fl_str ids[FL_MAX_QUEUED_AS + 1];
    int n_ids = queued_as(msg, ids);
    if (n_ids > FL_MAX_QUEUED_AS)
        return FAMILY(R_NONE, "amavis verdict");
    if (qid.p != NULL) {
        fl_record *r = add_record(out, FL_SPAM_VERDICT);
        if (r == NULL)
            return R_FALLBACK;
        r->u.spam_verdict = (fl_spam_verdict){qid, verdict, amavis};
    }
    for (int k = 0; k < n_ids; k++) {
        fl_str new = ids[k];
        if (qid.p != NULL && !(new.n == qid.n && memcmp(new.p, qid.p, (size_t)qid.n) == 0)) {
            fl_record *r = add_record(out, FL_REINJECTED);
            if (r == NULL)
                return R_FALLBACK;
            r->u.reinjected = (fl_reinjected){qid, new};
        }
        fl_record *r = add_record(out, FL_SPAM_VERDICT);
        if (r == NULL)
            return R_FALLBACK;
        r->u.spam_verdict = (fl_spam_verdict){new, verdict, amavis};
    }
    return out->n_records ? R_RECS : R_EMPTY;
}

/* ==== roundcube.py ==================================================================== */

/* _unwrap_fpm: the text php-fpm relays from a worker ("... said into stdout: \"...\""). */
static fl_str unwrap_fpm(fl_str msg) {
    Py_ssize_t k = FIND(msg, " said into stdout: \"", 0);
    if (k < 0) {
        k = FIND(msg, " said into stderr: \"", 0);
        if (k < 0)
            return msg;
    }
    fl_str inner = from(msg, k + 20);
    return ENDS(inner, "\"") ? sl(inner, 0, inner.n - 1) : inner;
}

int fl_parse_roundcube(fl_str msg, fl_result *out) {
    if (STARTS(msg, "WARNING: [pool ") || STARTS(msg, "NOTICE: [pool "))
        msg = unwrap_fpm(msg);
    if (STARTS(msg, "userlogins: "))
        msg = from(msg, 12);
    if (STARTS(msg, "<")) {
        Py_ssize_t e = FIND(msg, "> ", 0);
        if (e > 0)
            msg = from(msg, e + 2);
    }
    if (!STARTS(msg, "Successful login for "))
        return R_EMPTY;
    fl_str rest = from(msg, 21);
    Py_ssize_t i = FIND(rest, " (ID: ", 0);
    Py_ssize_t f = FIND(rest, " from ", i >= 0 ? i : 0);
    if (f < 0)
        return FAMILY(R_NONE, "roundcube login");
    fl_str user = (0 <= i && i < f) ? sl(rest, 0, i) : sl(rest, 0, f);
    user = strip(user);
    if (user.n == 0 || findc(user, ' ', 0) >= 0)
        return FAMILY(R_NONE, "roundcube login");
    fl_str ip = from(rest, f + 6);
    Py_ssize_t e = ip.n;
    Py_ssize_t k = findc(ip, ' ', 0);
    if (0 <= k && k < e)
        e = k;
    k = findc(ip, '(', 0);
    if (0 <= k && k < e)
        e = k;
    fl_record *r = add_record(out, FL_WEBMAIL_LOGIN);
    if (r == NULL)
        return R_FALLBACK;
    r->u.webmail_login = (fl_webmail_login){user, sl(ip, 0, e)};
    return R_RECS;
}

/* ==== quota.py ======================================================================== */

#define MAX_STORED_BYTES (INT64_C(1) << 50) /* mailtally.events */
#define MAX_STORED_ITEMS (INT64_C(1) << 40)

/* s.upper() == lit (lit upper-case) */
static int upper_eq(fl_str s, const char *lit, Py_ssize_t m) {
    if (s.n != m)
        return 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        char c = s.p[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c != lit[i])
            return 0;
    }
    return 1;
}

int fl_parse_quota(fl_str line, fl_result *out) {
    /* line.rstrip("\r\n").split("\t"): only the first four columns matter */
    while (line.n > 0 && (line.p[line.n - 1] == '\r' || line.p[line.n - 1] == '\n'))
        line.n--;
    fl_str cols[4];
    Py_ssize_t a = 0;
    for (int i = 0; i < 4; i++) {
        if (a > line.n)
            return R_NONE; /* fewer than 4 columns */
        Py_ssize_t t = findc(line, '\t', a);
        Py_ssize_t e = t < 0 ? line.n : t;
        cols[i] = sl(line, a, e);
        a = t < 0 ? line.n + 1 : t + 1;
    }
    fl_str user = strip(cols[0]), root = cols[1], kind = strip(cols[2]), value = strip(cols[3]);
    /* user.lower() == "username" and kind (upper-cased) == "TYPE" */
    if (upper_eq(user, LIT("USERNAME")) && upper_eq(kind, LIT("TYPE"))) {
        if (add_record(out, FL_QUOTA_HEADER) == NULL)
            return R_FALLBACK;
        return R_RECS;
    }
    int k = upper_eq(kind, LIT("STORAGE")) ? FL_STORAGE : upper_eq(kind, LIT("MESSAGE")) ? FL_MESSAGE : 0;
    if (!k || user.n == 0)
        return R_NONE;
    int64_t number;
    if (EQ(value, "-") || value.n == 0) {
        number = 0;
    } else if (isdigits(value) && value.n <= 20) {
        if (!digits_value(value, &number))
            return R_NONE; /* over int64: over the limits too */
    } else {
        return R_NONE;
    }
    if (k == FL_STORAGE) {
        if (number > MAX_STORED_BYTES / 1024)
            return R_NONE; /* number * 1024 > MAX_STORED_BYTES */
        number *= 1024;
    } else if (number > MAX_STORED_ITEMS) {
        return R_NONE;
    }
    fl_record *r = add_record(out, FL_QUOTA_ROW);
    if (r == NULL)
        return R_FALLBACK;
    r->u.quota_row = (fl_quota_row){user, root, k, number};
    return R_RECS;
}

/* ==== pmg.py ========================================================================== */

/* s.isalnum() of an ASCII string: non-empty, all of A-Z a-z 0-9 */
static int alnum(fl_str s) {
    if (s.n == 0)
        return 0;
    for (Py_ssize_t i = 0; i < s.n; i++)
        if (!IS_ALNUM(s.p[i]))
            return 0;
    return 1;
}

/* pmg._spam: 1 spam, 0 ham, -1 not a score (score >= ceil(required), score whole) */
static int pmg_spam(fl_str score, fl_str required) {
    Py_ssize_t dot = findc(required, '.', 0);
    fl_str whole = dot < 0 ? required : sl(required, 0, dot);
    if (!isdigits(score) || !isdigits(whole))
        return -1;
    int round_up = 0;
    if (dot >= 0) {
        fl_str frac = from(required, dot + 1);
        if (!isdigits(frac))
            return -1;
        for (Py_ssize_t i = 0; i < frac.n; i++)
            if (frac.p[i] != '0')
                round_up = 1;
    }
    if (score.n > 18 || whole.n > 18)
        return -1;
    int64_t s, w;
    digits_value(score, &s); /* (18 digits: they fit) */
    digits_value(whole, &w);
    return s >= w + round_up;
}

int fl_parse_pmg(fl_str msg, fl_result *out) {
    Py_ssize_t c = FIND(msg, ": ", 0);
    if (c <= 0)
        return R_EMPTY;
    fl_str logid = sl(msg, 0, c);
    if (!alnum(logid))
        return R_EMPTY;
    fl_str rest = from(msg, c + 2);
    if (STARTS(rest, "SA score=")) {
        Py_ssize_t slash = findc(rest, '/', 9);
        if (slash < 0)
            return FAMILY(R_NONE, "pmg verdict");
        Py_ssize_t end = findc(rest, ' ', slash + 1);
        int spam = pmg_spam(sl(rest, 9, slash), end < 0 ? from(rest, slash + 1)
                                                         : sl(rest, slash + 1, end));
        if (spam < 0)
            return FAMILY(R_NONE, "pmg verdict");
        fl_record *r = add_record(out, FL_SPAM_VERDICT);
        if (r == NULL)
            return R_FALLBACK;
        r->u.spam_verdict = (fl_spam_verdict){logid, spam ? FL_SPAM : FL_HAM, fl_s(LIT("pmg"))};
        return R_RECS;
    }
    if (STARTS(rest, "accept mail to <")) {
        /* the address's ">" past a quoted local part (why: pmg.parse_pmg) */
        Py_ssize_t e = close_addr(rest, 16);
        if (e >= 0 && (!STARTS_AT(rest, "> (", e) || FIND(rest, "> (", e + 3) >= 0))
            e = -1;
        Py_ssize_t q = e >= 0 ? findc(rest, ')', e + 3) : -1;
        fl_str new_qid = q >= 0 ? sl(rest, e + 3, q) : fl_s(LIT(""));
        if (!alnum(new_qid))
            return FAMILY(R_NONE, "pmg verdict");
        fl_record *r = add_record(out, FL_REINJECTED);
        if (r == NULL)
            return R_FALLBACK;
        r->u.reinjected = (fl_reinjected){logid, new_qid};
        return R_RECS;
    }
    return R_EMPTY;
}
