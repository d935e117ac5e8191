/* The C twin of mailtally.ingest.parsers: one log line -> fl_result, as
 * LineParser.parse would answer -- and the _fastlog.Parser type.
 *
 * The Python modules are the reference (parsers/__init__.py for this file,
 * stamps.py for _split); this code follows them function by function, and the
 * tests (tests/test_fastlog_parse.py) check that both give the same answers.
 *
 *   parse.c          header regexes, stamps._split, routes, LineParser.parse and
 *                    _unsplit; the Parser type (parse(), count())
 *   parse_postfix.c  parsers/postfix.py
 *   parse_other.c    parsers/{dovecot,rspamd,amavis,roundcube,quota,pmg}.py
 *   parse_exim.c     parsers/exim.py
 *   parse_stamps.c   stamps.py (time stamps, with callbacks into the StampParser)
 *
 * The C parser declines (FL_FALLBACK) a line with a byte >= 0x80, a number or a
 * list too large for the C structs, a stamp whose Python answer depends on the
 * StampParser's history (see fl_stamp_rfc3339), and a stamp whose Python callback
 * raised; the caller then parses the line with the Python parser.
 */
#include "parse_util.h"

/* Python's character classes on ASCII; no bits for bytes >= 0x80 (never parsed). */
const unsigned char fl_ctype[256] = {
    ['\t'] = C_SPACE | C_RESPACE, ['\n'] = C_SPACE | C_RESPACE, ['\v'] = C_SPACE | C_RESPACE,
    ['\f'] = C_SPACE | C_RESPACE, ['\r'] = C_SPACE | C_RESPACE, [' '] = C_SPACE | C_RESPACE,
    [0x1c] = C_SPACE, [0x1d] = C_SPACE, [0x1e] = C_SPACE, [0x1f] = C_SPACE,
    ['0'] = C_DIGIT | C_WORD, ['1'] = C_DIGIT | C_WORD, ['2'] = C_DIGIT | C_WORD,
    ['3'] = C_DIGIT | C_WORD, ['4'] = C_DIGIT | C_WORD, ['5'] = C_DIGIT | C_WORD,
    ['6'] = C_DIGIT | C_WORD, ['7'] = C_DIGIT | C_WORD, ['8'] = C_DIGIT | C_WORD,
    ['9'] = C_DIGIT | C_WORD, ['_'] = C_WORD,
#define U(c) [c] = C_UPPER | C_WORD
#define L(c) [c] = C_LOWER | C_WORD
    U('A'), U('B'), U('C'), U('D'), U('E'), U('F'), U('G'), U('H'), U('I'), U('J'), U('K'), U('L'),
    U('M'), U('N'), U('O'), U('P'), U('Q'), U('R'), U('S'), U('T'), U('U'), U('V'), U('W'), U('X'),
    U('Y'), U('Z'), L('a'), L('b'), L('c'), L('d'), L('e'), L('f'), L('g'), L('h'), L('i'), L('j'),
    L('k'), L('l'), L('m'), L('n'), L('o'), L('p'), L('q'), L('r'), L('s'), L('t'), L('u'), L('v'),
    L('w'), L('x'), L('y'), L('z'),
#undef U
#undef L
};

enum { K_CLASSIC = 0, K_ISO = 1, K_ROUNDCUBE = 2 }; /* stamps.CLASSIC, ISO, ROUNDCUBE */

/* A line taken apart (the groups of _CLASSIC_HEAD/_ISO_HEAD, or stamps._split). */
typedef struct {
    int kind;
    fl_str stamp, host, program, msg;
    char zbuf[64]; /* an Exim stamp with its zone put together (exim_head) */
} head;

/* -- the header regexes ----------------------------------------------------------------- */

/* The tail both header regexes share, from q on (re.ASCII: \s is [ \t\n\r\f\v]):
 *     (?:([^\s:(]+) )?([^\s\[\]:]+)(?:\[\d*\])?:(?: |$)
 * No backtracking needed beyond trying "with host" then "without": a host can only
 * end at a space, a program only at "[" or ":". */
static int prog_part(fl_str L, Py_ssize_t a, fl_str *program, Py_ssize_t *end) {
    const char *p = L.p;
    Py_ssize_t n = L.n, b = a;
    while (b < n && !(IS_RESPACE(p[b]) || p[b] == '[' || p[b] == ']' || p[b] == ':'))
        b++;
    if (b == a)
        return 0;
    Py_ssize_t c = b;
    if (c < n && p[c] == '[') { /* (?:\[\d*\])? -- without it, ":" would have to be at "[" */
        c++;
        while (c < n && IS_DIGIT(p[c]))
            c++;
        if (!(c < n && p[c] == ']'))
            return 0;
        c++;
    }
    if (!(c < n && p[c] == ':'))
        return 0;
    c++;
    /* (?: |$): a space, the end, or ($) just before a final newline */
    if (c < n && p[c] == ' ')
        *end = c + 1;
    else if (c == n || (c == n - 1 && p[c] == '\n'))
        *end = c;
    else
        return 0;
    *program = sl(L, a, b);
    return 1;
}

static int head_tail(fl_str L, Py_ssize_t q, head *hd) {
    const char *p = L.p;
    Py_ssize_t n = L.n, h = q, end;
    while (h < n && !(IS_RESPACE(p[h]) || p[h] == ':' || p[h] == '('))
        h++;
    if (h > q && h < n && p[h] == ' ' && prog_part(L, h + 1, &hd->program, &end)) {
        hd->host = sl(L, q, h);
    } else if (prog_part(L, q, &hd->program, &end)) {
        hd->host = FL_NONE;
    } else {
        return 0;
    }
    hd->msg = from(L, end);
    return 1;
}

#define D(i) ((i) < n && IS_DIGIT(p[i]))
#define C(i, ch) ((i) < n && p[i] == (ch))

/* _CLASSIC_HEAD: ([A-Z][a-z][a-z] [ \d]?\d \d\d:\d\d:\d\d) <tail> */
static int classic_head(fl_str L, head *hd) {
    const char *p = L.p;
    Py_ssize_t n = L.n, a;
    if (!(n > 3 && (fl_ctype[(unsigned char)p[0]] & C_UPPER) &&
          (fl_ctype[(unsigned char)p[1]] & C_LOWER) && (fl_ctype[(unsigned char)p[2]] & C_LOWER) &&
          p[3] == ' '))
        return 0;
    /* [ \d]?\d then a space: the two-character day and the one-character day
     * exclude each other (p[5] is a digit in one, a space in the other) */
    if ((C(4, ' ') || D(4)) && D(5) && C(6, ' '))
        a = 7;
    else if (D(4) && C(5, ' '))
        a = 6;
    else
        return 0;
    if (!(D(a) && D(a + 1) && C(a + 2, ':') && D(a + 3) && D(a + 4) && C(a + 5, ':') && D(a + 6) &&
          D(a + 7) && C(a + 8, ' ')))
        return 0;
    hd->kind = K_CLASSIC;
    hd->stamp = sl(L, 0, a + 8);
    return head_tail(L, a + 9, hd);
}

/* _ISO_HEAD: (\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:[Zz]|[+-]\d\d(?::?\d\d)?)?) <tail>
 * Of the offset's shapes at most one is followed by the space the tail needs. */
static int iso_head(fl_str L, head *hd) {
    const char *p = L.p;
    Py_ssize_t n = L.n;
    if (!(D(0) && D(1) && D(2) && D(3) && C(4, '-') && D(5) && D(6) && C(7, '-') && D(8) && D(9) &&
          (C(10, 'T') || C(10, 't')) && D(11) && D(12) && C(13, ':') && D(14) && D(15) &&
          C(16, ':') && D(17) && D(18)))
        return 0;
    Py_ssize_t i = 19, e = -1;
    if ((C(i, '.') || C(i, ',')) && D(i + 1)) {
        i += 2;
        while (D(i))
            i++;
    }
    if (C(i, 'Z') || C(i, 'z')) {
        if (C(i + 1, ' '))
            e = i + 1;
    } else if ((C(i, '+') || C(i, '-')) && D(i + 1) && D(i + 2)) {
        if (C(i + 3, ':') && D(i + 4) && D(i + 5) && C(i + 6, ' '))
            e = i + 6;
        else if (D(i + 3) && D(i + 4) && C(i + 5, ' '))
            e = i + 5;
        else if (C(i + 3, ' '))
            e = i + 3;
    } else if (C(i, ' ')) {
        e = i;
    }
    if (e < 0)
        return 0;
    hd->kind = K_ISO;
    hd->stamp = sl(L, 0, e);
    return head_tail(L, e + 1, hd);
}

/* -- stamps._split ------------------------------------------------------------------------ */

/* stamps._exim_head: Exim's own main log after its stamp line[:sp]: 1 with *hd filled,
 * 0 for None, -1 when the stamp and its zone do not fit hd->zbuf (the line falls back). */
static int exim_head(fl_str line, Py_ssize_t sp, head *hd) {
    fl_str stamp = sl(line, 0, sp);
    Py_ssize_t p = sp + 1;
    int sure = 0;
    fl_str z = sl(line, p, p + 5);
    if (z.n == 5 && (z.p[0] == '+' || z.p[0] == '-') && isdigits(from(z, 1)) &&
        STARTS_AT(line, " ", p + 5)) {
        if (stamp.n + 5 > (Py_ssize_t)sizeof hd->zbuf)
            return -1;
        memcpy(hd->zbuf, stamp.p, (size_t)stamp.n);
        memcpy(hd->zbuf + stamp.n, z.p, 5);
        stamp = fl_s(hd->zbuf, stamp.n + 5);
        p += 6;
        sure = 1;
    }
    if (STARTS_AT(line, "[", p)) {
        Py_ssize_t e = FIND(line, "] ", p);
        if (e > p + 1 && isdigits(sl(line, p + 1, e))) {
            p = e + 2;
            sure = 1;
        }
    }
    if (!sure) {
        Py_ssize_t e = findc(line, ' ', p);
        fl_str first = e >= 0 ? sl(line, p, e) : from(line, p);
        if (!fl_is_exim_id(first)) {
            if (ENDS(first, ":") || (findc(first, '(', 0) >= 0 && findc(first, ')', 0) < 0) ||
                e < 0)
                return 0;
            Py_ssize_t e2 = findc(line, ' ', e + 1);
            fl_str second = e2 >= 0 ? sl(line, e + 1, e2) : from(line, e + 1);
            if (ENDS(second, ":"))
                return 0;
        }
    }
    hd->kind = K_ISO;
    hd->stamp = stamp;
    hd->host = sl(line, 0, 0);
    hd->program = fl_s(LIT("exim"));
    hd->msg = from(line, p);
    return 1;
}

/* _split(line): 1 with *hd filled, 0 for None, -1: the line falls back. */
static int split(fl_str line, head *hd) {
    const char *p = line.p;
    Py_ssize_t n = line.n, start, sp;
    if (n < 16)
        return 0;
    char c = p[0];
    if (c == '[') {
        Py_ssize_t e = findc(line, ']', 1);
        if (e < 0)
            return 0;
        fl_str msg = from(line, e + 1);
        if (STARTS(msg, ": "))
            msg = from(msg, 2);
        else if (STARTS(msg, " "))
            msg = from(msg, 1);
        hd->kind = K_ROUNDCUBE;
        hd->stamp = sl(line, 1, e);
        hd->host = sl(line, 0, 0);
        hd->program = fl_s(LIT("roundcube"));
        hd->msg = msg;
        return 1;
    }
    if ('0' <= c && c <= '9') {
        if (p[4] != '-' || p[7] != '-' || p[13] != ':')
            return 0;
        if (p[10] == ' ') {
            /* rspamd's own file: "2026-11-28 01:02:03[.123] #1234(normal) <tag>; …" */
            sp = findc(line, ' ', 11);
            if (sp < 0)
                return 0;
            fl_str stamp = sl(line, 0, sp), rest = from(line, sp + 1);
            if (STARTS(rest, "[")) {
                /* rspamd with `logging { severity = true; }` (3.0+, logger.c):
                 * "… [notice] #1234(normal) <tag>; …" */
                Py_ssize_t e = FIND(sl(rest, 0, 16), "] #", 1), i = 1;
                while (e > 1 && i < e &&
                       ((rest.p[i] >= 'a' && rest.p[i] <= 'z') || (rest.p[i] >= 'A' && rest.p[i] <= 'Z')))
                    i++;
                if (e > 1 && i == e)
                    rest = from(rest, e + 2);
            }
            if (STARTS(rest, "#")) {
                Py_ssize_t sp2 = findc(rest, ' ', 0);
                fl_str msg = sp2 > 0 ? from(rest, sp2 + 1) : sl(rest, 0, 0);
                hd->kind = K_ISO;
                hd->stamp = stamp;
                hd->host = sl(line, 0, 0);
                hd->program = fl_s(LIT("rspamd"));
                hd->msg = msg;
                return 1;
            }
            int ex = exim_head(line, sp, hd);
            if (ex)
                return ex;
            start = sp + 1;
        } else {
            sp = findc(line, ' ', 0);
            if (sp < 0)
                return 0;
            start = sp + 1;
        }
        hd->kind = K_ISO;
        hd->stamp = sl(line, 0, sp);
    } else {
        /* classic "Mmm dd hh:mm:ss": 15 characters when the day is padded, 14 if not */
        if (p[3] != ' ')
            return 0;
        if (p[6] == ' ' && p[9] == ':' && p[15] == ' ') {
            hd->stamp = sl(line, 0, 15);
            start = 16;
        } else if (p[5] == ' ' && p[8] == ':' && p[14] == ' ') {
            hd->stamp = sl(line, 0, 14);
            start = 15;
        } else {
            return 0;
        }
        hd->kind = K_CLASSIC;
    }
    sp = findc(line, ' ', start);
    if (sp < 0)
        return 0;
    fl_str first = sl(line, start, sp);
    if (findc(first, '(', 0) >= 0 && findc(first, ')', 0) < 0) {
        /* Dovecot's own file, 2.1 style: "lmtp(12345, alice@example.com): Info: …" */
        Py_ssize_t close = findc(line, ')', sp);
        Py_ssize_t colon = close > 0 ? FIND(line, ": ", close) : -1;
        if (colon > 0 && findc(sl(line, close, colon), ' ', 0) < 0) {
            hd->host = sl(line, 0, 0);
            hd->program = sl(line, start, colon);
            hd->msg = from(line, colon + 2);
            return 1;
        }
    }
    fl_str tag;
    if (ENDS(first, ":")) {
        hd->host = sl(line, 0, 0);
        tag = sl(first, 0, first.n - 1);
        hd->msg = from(line, sp + 1);
    } else {
        hd->host = first;
        Py_ssize_t e = findc(line, ' ', sp + 1);
        if (e < 0) {
            tag = from(line, sp + 1);
            hd->msg = sl(line, n, n);
        } else {
            tag = sl(line, sp + 1, e);
            hd->msg = from(line, e + 1);
        }
        if (ENDS(tag, ":")) {
            tag.n--;
        } else {
            /* "host last message repeated 3 times", "-- MARK --": no program tag */
            hd->program = sl(line, 0, 0);
            hd->msg = from(line, sp + 1);
            return 1;
        }
    }
    if (ENDS(tag, "]")) {
        Py_ssize_t b = findc(tag, '[', 0);
        if (b >= 0)
            tag = sl(tag, 0, b);
    }
    hd->program = tag;
    return 1;
}

/* -- routes (parsers._route) ------------------------------------------------------------- */

typedef struct {
    const char *s;
    Py_ssize_t n;
} lit;

static int in_set(fl_str s, const lit *set, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (s.n == set[i].n && memcmp(s.p, set[i].s, (size_t)s.n) == 0)
            return 1;
    return 0;
}

static const lit POSTFIX_DAEMONS[] = {
    {LIT("anvil")},   {LIT("bounce")},     {LIT("cleanup")},   {LIT("discard")},
    {LIT("error")},   {LIT("lmtp")},       {LIT("local")},     {LIT("master")},
    {LIT("pickup")},  {LIT("pipe")},       {LIT("postdrop")},  {LIT("postscreen")},
    {LIT("qmgr")},    {LIT("scache")},     {LIT("sendmail")},  {LIT("smtp")},
    {LIT("smtpd")},   {LIT("tlsmgr")},     {LIT("tlsproxy")},  {LIT("trivial-rewrite")},
    {LIT("verify")},  {LIT("virtual")},    {LIT("dnsblog")},   {LIT("proxymap")},
    {LIT("showq")},   {LIT("flush")},      {LIT("oqmgr")},     {LIT("postlogd")},
};

static const lit DOVECOT_SUBSYSTEMS[] = {
    {LIT("imap-login")},     {LIT("pop3-login")},   {LIT("submission-login")},
    {LIT("managesieve-login")}, {LIT("imap-urlauth-login")}, {LIT("lmtp")},
    {LIT("lda")},            {LIT("deliver")},      {LIT("imap")},
    {LIT("pop3")},           {LIT("submission")},   {LIT("managesieve")},
    {LIT("imap-urlauth")},   {LIT("imap-hibernate")}, {LIT("auth")},
    {LIT("auth-worker")},    {LIT("master")},       {LIT("config")},
    {LIT("anvil")},          {LIT("stats")},        {LIT("old-stats")},
    {LIT("indexer")},        {LIT("indexer-worker")}, {LIT("dict")},
    {LIT("doveadm")},        {LIT("replicator")},   {LIT("aggregator")},
    {LIT("director")},       {LIT("quota-status")}, {LIT("dns-client")},
    {LIT("ssl-params")},     {LIT("log")},
};
/* parsers.NEVER_COUNTED */
static const lit NEVER_COUNTED[] = {
    {LIT("opendkim")},      {LIT("opendmarc")},     {LIT("policyd-spf")},
    {LIT("policyd-weight")}, {LIT("postgrey")},     {LIT("clamav-milter")},
    {LIT("spamass-milter")}, {LIT("freshclam")},
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum { ROUTE_NONE, ROUTE_POSTFIX, ROUTE_DOVECOT, ROUTE_DOVECOT_FILE, ROUTE_ROUNDCUBE,
       ROUTE_RSPAMD, ROUTE_AMAVIS, ROUTE_PMG, ROUTE_NEVER, ROUTE_EXIM, ROUTE_SPAMD };

/* _route(program, hostless): the parser, its arg (the Postfix daemon), the name */
static int route(fl_str program, int hostless, fl_str *arg, fl_str *name) {
    *name = program;
    if (STARTS(program, "postfix")) {
        *arg = from(program, rfindc(program, '/') + 1); /* rsplit("/", 1)[-1] */
        return ROUTE_POSTFIX;
    }
    Py_ssize_t slash = rfindc(program, '/');
    if (slash >= 0) {
        *arg = from(program, slash + 1);
        if (in_set(*arg, POSTFIX_DAEMONS, COUNT(POSTFIX_DAEMONS)))
            return ROUTE_POSTFIX;
    }
    if (EQ(program, "dovecot") || EQ(program, "dovecot-lda") || EQ(program, "dovecot-lmtp")) {
        *name = fl_s(LIT("dovecot"));
        return ROUTE_DOVECOT;
    }
    if (hostless) {
        Py_ssize_t p = findc(program, '(', 0);
        fl_str base = p > 0 ? sl(program, 0, p) : program;
        if (in_set(base, DOVECOT_SUBSYSTEMS, COUNT(DOVECOT_SUBSYSTEMS))) {
            *name = fl_s(LIT("dovecot"));
            return ROUTE_DOVECOT_FILE;
        }
    }
    if (STARTS(program, "roundcube") || EQ(program, "userlogins")) { /* log_driver stdout */
        *name = fl_s(LIT("roundcube"));
        return ROUTE_ROUNDCUBE;
    }
    if (STARTS(program, "rspamd")) {
        *name = fl_s(LIT("rspamd"));
        return ROUTE_RSPAMD;
    }
    if (STARTS(program, "amavis") || ENDS(program, "amavisd") || EQ(program, "amavisd-new")) {
        *name = fl_s(LIT("amavis"));
        return ROUTE_AMAVIS;
    }
    if (EQ(program, "pmg-smtp-filter"))
        return ROUTE_PMG;
    if (EQ(program, "exim") || EQ(program, "exim4")) {
        *name = fl_s(LIT("exim"));
        return ROUTE_EXIM;
    }
    if (EQ(program, "spamd")) {
        *name = fl_s(LIT("spamd"));
        return ROUTE_SPAMD;
    }
    if (in_set(program, NEVER_COUNTED, COUNT(NEVER_COUNTED)))
        return ROUTE_NEVER;
    return ROUTE_NONE;
}

/* -- LineParser.parse ------------------------------------------------------------------- */

/* parsers.SYSLOG_COPIES, SYSLOG_COPY_KEY */
#define SYSLOG_COPIES 16
#define SYSLOG_COPY_KEY 1024

typedef struct {
    Py_ssize_t n;
    int64_t time;
    char key[SYSLOG_COPY_KEY];
} reject_seen;

typedef struct {
    PyObject_HEAD
    fl_stamps st;
    /* LineParser._rejects: the last Exim rejections read through syslog, oldest first */
    int n_rejects;
    reject_seen rejects[SYSLOG_COPIES];
    /* the strings of rspamd's JSON lines that hold escapes, decoded (fl_parse_rspamd) */
    fl_buf json;
} ParserObject;

/* LineParser._syslog_copy (the C parser sees ASCII lines only): msg and program are
 * slices of line */
static int syslog_copy(ParserObject *self, fl_str line, fl_str host, fl_str program, fl_str msg,
                       int64_t t) {
    /* the tag (program[pid]) and the text: the line from the last program name of its
     * header on */
    Py_ssize_t tag = rfind_n(fl_s(line.p, msg.p - line.p), program.p, program.n);
    if (tag < 0)
        tag = 0; /* (not reached: the program is a slice of the header) */
    fl_str tail = from(line, tag);
    Py_ssize_t n = host.n + 1 + tail.n;
    if (n > SYSLOG_COPY_KEY)
        return 0;
    char key[SYSLOG_COPY_KEY];
    memcpy(key, host.p, (size_t)host.n);
    key[host.n] = ' ';
    memcpy(key + host.n + 1, tail.p, (size_t)tail.n);
    reject_seen *seen = self->rejects;
    for (int i = self->n_rejects - 1; i >= 0; i--) {
        if (seen[i].n == n && t - seen[i].time >= -1 && t - seen[i].time <= 1 &&
            memcmp(seen[i].key, key, (size_t)n) == 0) {
            memmove(&seen[i], &seen[i + 1], (size_t)(self->n_rejects - 1 - i) * sizeof seen[0]);
            self->n_rejects--;
            return 1;
        }
    }
    if (self->n_rejects >= SYSLOG_COPIES) {
        memmove(&seen[0], &seen[1], (size_t)(SYSLOG_COPIES - 1) * sizeof seen[0]);
        self->n_rejects--;
    }
    reject_seen *e = &seen[self->n_rejects++];
    e->n = n;
    e->time = t;
    memcpy(e->key, key, (size_t)n);
    return 0;
}

static PyTypeObject ParserType;

int fl_parser_check(PyObject *obj) { return PyObject_TypeCheck(obj, &ParserType); }

static int has_high_byte(const char *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    uint64_t acc = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= (unsigned char)p[i];
    return (acc & UINT64_C(0x8080808080808080)) != 0;
}

static void status(fl_result *out, int st, fl_str program) {
    out->status = st;
    out->program = program;
    out->host = fl_s(LIT(""));
    out->n_records = 0;
    out->family = fl_s(LIT(""));
}

/* parsers._host_of: the host of an ok line into out->host, lower case; 0 if it is no
 * hostname (longer than FL_MAX_HOST, or a character outside [A-Za-z0-9._:-]) */
static int host_of(fl_str h, fl_result *out) {
    /* 1: a character of a hostname, 2: an upper-case one, 0: none */
    static const unsigned char cls[256] = {
        ['-'] = 1, ['.'] = 1, [':'] = 1, ['_'] = 1,
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
        ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
        ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
        ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
        ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
        ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
        ['A'] = 2, ['B'] = 2, ['C'] = 2, ['D'] = 2, ['E'] = 2, ['F'] = 2, ['G'] = 2,
        ['H'] = 2, ['I'] = 2, ['J'] = 2, ['K'] = 2, ['L'] = 2, ['M'] = 2, ['N'] = 2,
        ['O'] = 2, ['P'] = 2, ['Q'] = 2, ['R'] = 2, ['S'] = 2, ['T'] = 2, ['U'] = 2,
        ['V'] = 2, ['W'] = 2, ['X'] = 2, ['Y'] = 2, ['Z'] = 2,
    };
    out->host = fl_s(LIT(""));
    if (h.p == NULL || h.n == 0)
        return 1;
    if (h.n > FL_MAX_HOST)
        return 0;
    unsigned all = 3, any = 0;
    for (Py_ssize_t i = 0; i < h.n; i++) {
        unsigned c = cls[(unsigned char)h.p[i]];
        all &= c ? 3u : 0u;
        any |= c;
    }
    if (!all)
        return 0;
    int upper = (any & 2) != 0;
    if (!upper) {
        out->host = h;
        return 1;
    }
    for (Py_ssize_t i = 0; i < h.n; i++) {
        char c = h.p[i];
        out->host_lower[i] = ('A' <= c && c <= 'Z') ? (char)(c + 32) : c;
    }
    out->host = fl_s(out->host_lower, h.n);
    return 1;
}

/* parsers._too_long: whether a record holds a field of parsers._BOUNDED over
 * FL_MAX_ADDRESS.  The lines parsed here are ASCII (others go to the Python
 * parser), so bytes are characters. */
#define LONG(s) ((s).p != NULL && (s).n > FL_MAX_ADDRESS)
static int too_long(const fl_result *out) {
    for (int i = 0; i < out->n_records; i++) {
        const fl_record *r = &out->records[i];
        switch (r->kind) {
        case FL_SMTPD_CLIENT: {
            const fl_smtpd_client *c = &r->u.smtpd_client;
            if (LONG(c->qid) || LONG(c->client_ip) || LONG(c->sasl_username) || LONG(c->orig_qid))
                return 1;
            break;
        }
        case FL_PICKUP:
            if (LONG(r->u.pickup.qid) || LONG(r->u.pickup.sender))
                return 1;
            break;
        case FL_CLEANUP_MSGID:
            if (LONG(r->u.cleanup.qid))
                return 1;
            break;
        case FL_QMGR_FROM:
            if (LONG(r->u.qmgr_from.qid) || LONG(r->u.qmgr_from.sender))
                return 1;
            break;
        case FL_QMGR_REMOVED:
        case FL_DISCARD:
            if (LONG(r->u.qid_only.qid))
                return 1;
            break;
        case FL_DELIVERY: {
            const fl_delivery *d = &r->u.delivery;
            if (LONG(d->qid) || LONG(d->to) || LONG(d->orig_to) || LONG(d->queued_as) ||
                LONG(d->forwarded_as))
                return 1;
            break;
        }
        case FL_REJECT:
            if (LONG(r->u.reject.qid) || LONG(r->u.reject.recipient))
                return 1;
            break;
        case FL_MAIL_LOGIN:
            if (LONG(r->u.mail_login.user))
                return 1;
            break;
        case FL_SIEVE:
            if (LONG(r->u.sieve.user) || LONG(r->u.sieve.session))
                return 1;
            break;
        case FL_WEBMAIL_LOGIN:
            if (LONG(r->u.webmail_login.user))
                return 1;
            break;
        case FL_SPAM_VERDICT:
            if (LONG(r->u.spam_verdict.qid))
                return 1;
            break;
        case FL_REINJECTED:
            if (LONG(r->u.reinjected.qid) || LONG(r->u.reinjected.new_qid))
                return 1;
            break;
        case FL_FILTER_BLOCKED: {
            const fl_filter_blocked *b = &r->u.filter_blocked;
            if (LONG(b->qid))
                return 1;
            for (int k = 0; k < b->n_recipients; k++)
                if (LONG(b->recipients[k]))
                    return 1;
            break;
        }
        case FL_QUOTA_ROW:
            if (LONG(r->u.quota_row.user) || LONG(r->u.quota_row.root))
                return 1;
            break;
        case FL_EXIM_ARRIVAL: {
            const fl_exim_arrival *a = &r->u.exim_arrival;
            if (LONG(a->qid) || LONG(a->sender) || LONG(a->client_ip) || LONG(a->auth) ||
                LONG(a->local_user))
                return 1;
            for (int k = 0; k < a->n_recipients; k++)
                if (LONG(a->recipients[k]))
                    return 1;
            break;
        }
        case FL_EXIM_DELIVERY: {
            const fl_exim_delivery *d = &r->u.exim_delivery;
            if (LONG(d->qid) || LONG(d->to) || LONG(d->orig) || LONG(d->ip))
                return 1;
            break;
        }
        case FL_EXIM_COMPLETED:
            if (LONG(r->u.exim_completed.qid))
                return 1;
            break;
        default:
            break;
        }
    }
    return 0;
}
#undef LONG

/* _unsplit(line): a quota report row, a blank line, or garbage */
static int unsplit(fl_stamps *st, fl_str line, fl_result *out) {
    if (findc(line, '\t', 0) >= 0) {
        int r = fl_parse_quota(line, out);
        if (r == R_FALLBACK)
            return r;
        if (r == R_RECS && !too_long(out)) {
            out->status = FL_OK;
            out->program = fl_s(LIT("doveadm"));
            out->host = fl_s(LIT(""));
            out->time = st->reference;
            return R_RECS;
        }
        out->n_records = 0;
    }
    status(out, strip(line).n == 0 ? FL_IGNORED : FL_UNKNOWN, fl_s(LIT("")));
    return R_RECS;
}

/* LineParser._json: a line that opens a JSON object, rspamd's own JSON log */
static void json_line(ParserObject *self, fl_str line, fl_result *out) {
    int64_t t;
    int r = fl_parse_rspamd_json(line, &self->json, out, &t);
    fl_str rspamd = fl_s(LIT("rspamd"));
    switch (r) {
    case R_OTHER:
        out->n_records = 0;
        if (unsplit(&self->st, line, out) == R_FALLBACK)
            status(out, FL_FALLBACK, fl_s(LIT("")));
        return;
    case R_EMPTY:
        status(out, FL_IGNORED, rspamd);
        return;
    case R_NONE: {
        fl_str family = out->family;
        status(out, FL_UNKNOWN, rspamd);
        out->family = family;
        return;
    }
    case R_RECS:
        if (too_long(out) || t < 0) {
            status(out, FL_UNKNOWN, rspamd);
            return;
        }
        out->status = FL_OK;
        out->program = rspamd;
        out->host = fl_s(LIT(""));
        out->time = t;
        return;
    default:
        status(out, FL_FALLBACK, fl_s(LIT("")));
        return;
    }
}

int fl_parse_line(PyObject *parser, const char *text, Py_ssize_t n, fl_result *out) {
    fl_stamps *st = &((ParserObject *)parser)->st;
    fl_str line = fl_s(text, n);
    out->n_records = 0;
    out->time = 0;
    out->tally = 0;
    out->family = fl_s(LIT(""));
    if (st->n_months > 0) {
        /* a localised classic stamp ([site] month_names): read as the English one */
        if (fl_stamp_english(st, &line) < 0) {
            status(out, FL_FALLBACK, fl_s(LIT("")));
            return -1;
        }
        text = line.p;
        n = line.n;
    }
    if (has_high_byte(text, n)) {
        status(out, FL_FALLBACK, fl_s(LIT("")));
        return 0;
    }
    head hd;
    int matched = 0;
    char c = n ? text[0] : 0;
    if ('A' <= c && c <= 'Z')
        matched = classic_head(line, &hd);
    else if ('0' <= c && c <= '9')
        matched = iso_head(line, &hd);
    else if (c == '{') {
        json_line((ParserObject *)parser, line, out);
        return 0;
    }
    int got = matched ? 1 : split(line, &hd);
    if (got < 0) {
        status(out, FL_FALLBACK, fl_s(LIT("")));
        return 0;
    }
    if (!got) {
        if (unsplit(st, line, out) == R_FALLBACK)
            status(out, FL_FALLBACK, fl_s(LIT("")));
        return 0;
    }
    fl_str arg = FL_NONE, name;
    int hostless = hd.host.p == NULL || hd.host.n == 0;
    int r;
    int rt = route(hd.program, hostless, &arg, &name);
    switch (rt) {
    case ROUTE_POSTFIX:
        r = fl_parse_postfix(arg, hd.msg, out);
        break;
    case ROUTE_DOVECOT:
        r = fl_parse_dovecot(hd.msg, out);
        break;
    case ROUTE_DOVECOT_FILE:
        /* parse_dovecot(program + ": " + msg): the program has no ": " but for a
         * Dovecot 2.1 line of _split, where program, ": " and msg are the line's
         * own text from the program on */
        if (FIND(hd.program, ": ", 0) >= 0)
            r = fl_parse_dovecot(fl_s(hd.program.p, hd.msg.p + hd.msg.n - hd.program.p), out);
        else
            r = fl_parse_dovecot_parts(hd.program, hd.msg, out);
        break;
    case ROUTE_ROUNDCUBE:
        r = fl_parse_roundcube(hd.msg, out);
        break;
    case ROUTE_RSPAMD:
        r = fl_parse_rspamd(hd.msg, &((ParserObject *)parser)->json, out);
        break;
    case ROUTE_AMAVIS:
        r = fl_parse_amavis(hd.msg, out);
        break;
    case ROUTE_PMG:
        r = fl_parse_pmg(hd.msg, out);
        break;
    case ROUTE_EXIM:
        r = fl_parse_exim(hd.msg, out);
        break;
    case ROUTE_SPAMD:
        r = fl_parse_spamd(hd.msg, out);
        break;
    case ROUTE_NEVER:
        r = R_EMPTY;
        break;
    default:
        if ((EQ(hd.host, "stdout") || EQ(hd.host, "stderr")) &&
            (STARTS(hd.msg, "F ") || STARTS(hd.msg, "P "))) {
            hd.msg = from(hd.msg, 2); /* Kubernetes' CRI log: "STAMP stdout F text" */
            hd.host = fl_s(LIT(""));  /* (a stream's name, not a host) */
        }
        if (!STARTS(hd.msg, "userlogins: ")) {
            status(out, FL_UNKNOWN, name);
            return 0;
        }
        /* Roundcube's stdout under a container's own tag (parsers.LineParser.parse) */
        name = fl_s(LIT("roundcube"));
        r = fl_parse_roundcube(hd.msg, out);
        break;
    }
    if (r == R_FALLBACK) {
        status(out, FL_FALLBACK, fl_s(LIT("")));
        return 0;
    }
    if (r == R_NONE || r == R_EMPTY) {
        fl_str family = out->family; /* the family the parser named (R_NONE) */
        status(out, r == R_NONE ? FL_UNKNOWN : FL_IGNORED, name);
        if (r == R_NONE)
            out->family = family;
        /* parsers.tallied(name): name is the program as logged on these two routes */
        if (r == R_EMPTY && (rt == ROUTE_NEVER || (rt == ROUTE_POSTFIX && (EQ(arg, "postscreen") ||
                                                                           EQ(arg, "postsuper")))))
            out->tally = 1;
        return 0;
    }
    if (too_long(out)) {
        status(out, FL_UNKNOWN, name);
        return 0;
    }
    int64_t t = 0;
    int s;
    if (hd.kind == K_CLASSIC)
        s = fl_stamp_syslog(st, hd.stamp, &t);
    else if (hd.kind == K_ROUNDCUBE)
        s = fl_stamp_roundcube(st, hd.stamp, &t);
    else
        s = fl_stamp_rfc3339(st, hd.stamp, &t);
    switch (s) {
    case R_RECS:
        if (!host_of(hd.host, out)) {
            status(out, FL_UNKNOWN, name);
            return 0;
        }
        if (!hostless && rt == ROUTE_EXIM && out->records[0].kind == FL_REJECT &&
            syslog_copy((ParserObject *)parser, line, hd.host, hd.program, hd.msg, t)) {
            status(out, FL_IGNORED, name);
            return 0;
        }
        out->status = FL_OK;
        out->program = name;
        out->time = t;
        return 0;
    case R_NONE:
        status(out, FL_UNKNOWN, name);
        return 0;
    case R_FALLBACK:
        status(out, FL_FALLBACK, fl_s(LIT("")));
        return 0;
    default:
        status(out, FL_FALLBACK, fl_s(LIT("")));
        return -1;
    }
}

/* -- Python objects: the records and ParseResult ------------------------------------------- */

/* mailtally.ingest.parsers' classes, and interned literals (imported on first use). */
static PyObject *cls[FL_LAST_KIND + 1];
static PyObject *ParseResult;
static PyObject *s_ok, *s_ignored, *s_unknown, *s_imap4, *s_pop3, *s_vacation, *s_redirect,
    *s_fileinto, *s_spam, *s_ham, *s_reject, *s_tempfail, *s_storage, *s_message,
    *s_ex_kinds[FL_EX_FAILED + 1];

static int import_parsers(void) {
    if (ParseResult != NULL)
        return 0;
    static const char *names[FL_LAST_KIND + 1] = {
        NULL,        "SmtpdClient", "Pickup",  "CleanupMessageId", "QmgrFrom",   "QmgrRemoved",
        "Delivery",  "Reject",      "Discard", "MailLogin",        "SieveAction", "WebmailLogin",
        "SpamVerdict", "Reinjected", "FilterBlocked", "QuotaHeader", "QuotaRow",
        "EximArrival", "EximDelivery", "EximCompleted", "SpamdResult",
    };
    PyObject *mod = PyImport_ImportModule("mailtally.ingest.parsers");
    if (mod == NULL)
        return -1;
    for (int k = 1; k <= FL_LAST_KIND; k++) {
        cls[k] = PyObject_GetAttrString(mod, names[k]);
        if (cls[k] == NULL)
            goto fail;
    }
    ParseResult = PyObject_GetAttrString(mod, "ParseResult");
    Py_DECREF(mod);
    if (ParseResult == NULL)
        return -1;
    struct {
        PyObject **o;
        const char *s;
    } strs[] = {{&s_ok, "ok"},          {&s_ignored, "ignored"},   {&s_unknown, "unknown"},
                {&s_imap4, "imap4"},    {&s_pop3, "pop3"},         {&s_vacation, "vacation"},
                {&s_redirect, "redirect"}, {&s_fileinto, "fileinto"}, {&s_spam, "spam"},
                {&s_ham, "ham"},        {&s_reject, "reject"},     {&s_tempfail, "tempfail"},
                {&s_storage, "STORAGE"}, {&s_message, "MESSAGE"},
                {&s_ex_kinds[FL_EX_DELIVERED], "=>"}, {&s_ex_kinds[FL_EX_MORE], "->"},
                {&s_ex_kinds[FL_EX_FAKE], "*>"}, {&s_ex_kinds[FL_EX_CUTTHROUGH], ">>"},
                {&s_ex_kinds[FL_EX_FAILED], "**"}};
    for (size_t i = 0; i < COUNT(strs); i++)
        if ((*strs[i].o = PyUnicode_InternFromString(strs[i].s)) == NULL)
            return -1;
    return 0;
fail:
    Py_DECREF(mod);
    return -1;
}

/* A str (or None) from a slice; steals nothing, returns a new reference. */
static PyObject *str_of(fl_str s) {
    if (s.p == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeASCII(s.p, s.n, NULL);
}
static PyObject *int_or_none(int64_t v) {
    if (v < 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(v);
}
static PyObject *lit_ref(PyObject *o) {
    Py_INCREF(o);
    return o;
}
static PyObject *tuple_of(const fl_str *items, int n) {
    PyObject *t = PyTuple_New(n);
    if (t == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *s = str_of(items[i]);
        if (s == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

/* Call cls[kind] with `n` new references (any NULL: fail), consuming them. */
static PyObject *make(int kind, PyObject **args, int n) {
    PyObject *res = NULL;
    for (int i = 0; i < n; i++)
        if (args[i] == NULL)
            goto done;
    res = PyObject_Vectorcall(cls[kind], args, (size_t)n, NULL);
done:
    for (int i = 0; i < n; i++)
        Py_XDECREF(args[i]);
    return res;
}

static PyObject *record_object(const fl_record *r) {
    static PyObject *const *verdicts[] = {NULL, &s_spam, &s_ham, &s_reject, &s_tempfail};
    static PyObject *const *actions[] = {NULL, &s_vacation, &s_redirect, &s_fileinto, &s_reject};
    switch (r->kind) {
    case FL_SMTPD_CLIENT: {
        const fl_smtpd_client *x = &r->u.smtpd_client;
        PyObject *a[] = {str_of(x->qid), str_of(x->client_ip), int_or_none(x->client_port),
                         str_of(x->sasl_username), str_of(x->orig_qid)};
        return make(r->kind, a, 5);
    }
    case FL_PICKUP: {
        const fl_pickup *x = &r->u.pickup;
        PyObject *a[] = {str_of(x->qid), PyLong_FromLongLong(x->uid), str_of(x->sender)};
        return make(r->kind, a, 3);
    }
    case FL_CLEANUP_MSGID: {
        PyObject *a[] = {str_of(r->u.cleanup.qid), str_of(r->u.cleanup.message_id)};
        return make(r->kind, a, 2);
    }
    case FL_QMGR_FROM: {
        const fl_qmgr_from *x = &r->u.qmgr_from;
        PyObject *a[] = {str_of(x->qid), str_of(x->sender), PyLong_FromLongLong(x->size),
                         PyLong_FromLongLong(x->nrcpt)};
        return make(r->kind, a, 4);
    }
    case FL_QMGR_REMOVED:
    case FL_DISCARD: {
        PyObject *a[] = {str_of(r->u.qid_only.qid)};
        return make(r->kind, a, 1);
    }
    case FL_DELIVERY: {
        const fl_delivery *x = &r->u.delivery;
        PyObject *a[] = {str_of(x->qid),      str_of(x->to),       str_of(x->orig_to),
                         str_of(x->relay),    str_of(x->status),   str_of(x->service),
                         str_of(x->response), str_of(x->queued_as), str_of(x->forwarded_as)};
        return make(r->kind, a, 9);
    }
    case FL_REJECT: {
        const fl_reject *x = &r->u.reject;
        PyObject *a[] = {str_of(x->qid), str_of(x->stage), str_of(x->recipient),
                         PyBool_FromLong(x->permanent), PyBool_FromLong(x->milter)};
        return make(r->kind, a, 5);
    }
    case FL_MAIL_LOGIN: {
        const fl_mail_login *x = &r->u.mail_login;
        PyObject *a[] = {str_of(x->user), str_of(x->rip),
                         lit_ref(x->service == FL_IMAP4 ? s_imap4 : s_pop3)};
        return make(r->kind, a, 3);
    }
    case FL_SIEVE: {
        const fl_sieve *x = &r->u.sieve;
        PyObject *a[] = {str_of(x->user), lit_ref(*actions[x->action]), str_of(x->target),
                         str_of(x->msgid), str_of(x->session)};
        return make(r->kind, a, 5);
    }
    case FL_WEBMAIL_LOGIN: {
        PyObject *a[] = {str_of(r->u.webmail_login.user), str_of(r->u.webmail_login.ip)};
        return make(r->kind, a, 2);
    }
    case FL_SPAM_VERDICT: {
        const fl_spam_verdict *x = &r->u.spam_verdict;
        PyObject *a[] = {str_of(x->qid), lit_ref(*verdicts[x->verdict]), str_of(x->source)};
        return make(r->kind, a, 3);
    }
    case FL_REINJECTED: {
        PyObject *a[] = {str_of(r->u.reinjected.qid), str_of(r->u.reinjected.new_qid)};
        return make(r->kind, a, 2);
    }
    case FL_FILTER_BLOCKED: {
        const fl_filter_blocked *x = &r->u.filter_blocked;
        PyObject *a[] = {str_of(x->qid), tuple_of(x->recipients, x->n_recipients),
                         str_of(x->category), tuple_of(x->flags, x->n_flags)};
        return make(r->kind, a, 4);
    }
    case FL_QUOTA_HEADER:
        return make(r->kind, NULL, 0);
    case FL_QUOTA_ROW: {
        const fl_quota_row *x = &r->u.quota_row;
        PyObject *a[] = {str_of(x->user), str_of(x->root),
                         lit_ref(x->kind == FL_STORAGE ? s_storage : s_message),
                         PyLong_FromLongLong(x->value)};
        return make(r->kind, a, 4);
    }
    case FL_EXIM_ARRIVAL: {
        const fl_exim_arrival *x = &r->u.exim_arrival;
        PyObject *a[] = {str_of(x->qid),        str_of(x->sender),
                         str_of(x->client_ip),  str_of(x->auth),
                         PyLong_FromLongLong(x->size), str_of(x->message_id),
                         x->n_recipients < 0 ? lit_ref(Py_None)
                                             : tuple_of(x->recipients, x->n_recipients),
                         str_of(x->local_user)};
        return make(r->kind, a, 8);
    }
    case FL_EXIM_DELIVERY: {
        const fl_exim_delivery *x = &r->u.exim_delivery;
        PyObject *a[] = {str_of(x->qid),       lit_ref(s_ex_kinds[x->kind]), str_of(x->to),
                         str_of(x->orig),      str_of(x->router),            str_of(x->transport),
                         str_of(x->ip)};
        return make(r->kind, a, 7);
    }
    case FL_EXIM_COMPLETED: {
        PyObject *a[] = {str_of(r->u.exim_completed.qid)};
        return make(r->kind, a, 1);
    }
    case FL_SPAMD_RESULT: {
        const fl_spamd_result *x = &r->u.spamd_result;
        PyObject *a[] = {str_of(x->message_id), lit_ref(x->spam ? s_spam : s_ham)};
        return make(r->kind, a, 2);
    }
    }
    PyErr_SetString(PyExc_SystemError, "_fastlog: unknown record kind");
    return NULL;
}

/* The ParseResult of *res (not FL_FALLBACK). */
static PyObject *result_object(const fl_result *res) {
    PyObject *recs = PyTuple_New(res->n_records);
    if (recs == NULL)
        return NULL;
    for (int i = 0; i < res->n_records; i++) {
        PyObject *o = record_object(&res->records[i]);
        if (o == NULL) {
            Py_DECREF(recs);
            return NULL;
        }
        PyTuple_SET_ITEM(recs, i, o);
    }
    PyObject *st = res->status == FL_OK ? s_ok : res->status == FL_IGNORED ? s_ignored : s_unknown;
    PyObject *a[] = {lit_ref(st), str_of(res->program),
                     res->status == FL_OK ? PyLong_FromLongLong(res->time) : lit_ref(Py_None), recs,
                     str_of(res->host), str_of(res->family)};
    PyObject *out = NULL;
    if (a[1] != NULL && a[2] != NULL && a[4] != NULL && a[5] != NULL)
        out = PyObject_Vectorcall(ParseResult, a, 6, NULL);
    for (int i = 0; i < 6; i++)
        Py_XDECREF(a[i]);
    return out;
}

/* -- the Parser type ----------------------------------------------------------------------- */

static PyObject *Parser_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"stamps", NULL};
    PyObject *stamps;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:Parser", kwlist, &stamps))
        return NULL;
    if (import_parsers() < 0)
        return NULL;
    PyObject *ref = PyObject_GetAttrString(stamps, "reference");
    if (ref == NULL)
        return NULL;
    long long reference = PyLong_AsLongLong(ref);
    Py_DECREF(ref);
    if (reference == -1 && PyErr_Occurred())
        return NULL;
    PyObject *utc = PyObject_GetAttrString(stamps, "_utc");
    if (utc == NULL)
        return NULL;
    int is_utc = PyObject_IsTrue(utc);
    Py_DECREF(utc);
    if (is_utc < 0)
        return NULL;
    ParserObject *self = (ParserObject *)type->tp_alloc(type, 0); /* zeroed: empty caches */
    if (self == NULL)
        return NULL;
    if (fl_stamp_months(&self->st, stamps) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    Py_INCREF(stamps);
    self->st.stamps = stamps;
    self->st.reference = reference;
    self->st.utc = is_utc;
    return (PyObject *)self;
}

static void Parser_dealloc(ParserObject *self) {
    Py_XDECREF(self->st.stamps);
    PyMem_Free(self->st.buf);
    PyMem_Free(self->json.p);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Parser_parse(ParserObject *self, PyObject *line) {
    if (!PyUnicode_Check(line)) {
        PyErr_SetString(PyExc_TypeError, "parse() takes a str");
        return NULL;
    }
    const char *p;
    Py_ssize_t n;
    if (PyUnicode_IS_ASCII(line)) {
        p = (const char *)PyUnicode_DATA(line);
        n = PyUnicode_GET_LENGTH(line);
    } else if (self->st.n_months == 0) {
        Py_RETURN_NONE; /* the C parser reads ASCII lines only: fall back */
    } else {
        /* a localised month name (Mär, déc.) may make the line ASCII: as scan() sees it */
        p = PyUnicode_AsUTF8AndSize(line, &n);
        if (p == NULL) {
            PyErr_Clear(); /* lone surrogates: not a line scan() could see */
            Py_RETURN_NONE;
        }
    }
    /* LineParser.parse: a trailing "\n" or "\r\n" is dropped */
    if (n > 0 && p[n - 1] == '\n')
        n -= (n > 1 && p[n - 2] == '\r') ? 2 : 1;
    fl_result *res = PyMem_Malloc(sizeof *res);
    if (res == NULL)
        return PyErr_NoMemory();
    PyObject *out = NULL;
    if (fl_parse_line((PyObject *)self, p, n, res) == 0) {
        if (res->status == FL_FALLBACK) {
            out = Py_None;
            Py_INCREF(out);
        } else {
            out = result_object(res);
        }
    }
    PyMem_Free(res);
    return out;
}

/* Is a line of bytes blank after decode("utf-8", "replace"), i.e. `not line or
 * line.isspace()`?  Unicode whitespace outside ASCII, in UTF-8: U+0085, U+00A0,
 * U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 (no replacement
 * character, U+FFFD, is whitespace). */
static int blank(const unsigned char *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (!IS_SPACE(c))
                return 0;
            i++;
        } else if (c == 0xC2 && i + 1 < n && (p[i + 1] == 0x85 || p[i + 1] == 0xA0)) {
            i += 2;
        } else if (c == 0xE1 && i + 2 < n && p[i + 1] == 0x9A && p[i + 2] == 0x80) {
            i += 3;
        } else if (c == 0xE2 && i + 2 < n && p[i + 1] == 0x80 &&
                   (p[i + 2] <= 0x8A || p[i + 2] == 0xA8 || p[i + 2] == 0xA9 || p[i + 2] == 0xAF)) {
            i += 3; /* (p[i+2] >= 0x80: a continuation byte, since the sequence is valid) */
        } else if (c == 0xE2 && i + 2 < n && p[i + 1] == 0x81 && p[i + 2] == 0x9F) {
            i += 3;
        } else if (c == 0xE3 && i + 2 < n && p[i + 1] == 0x80 && p[i + 2] == 0x80) {
            i += 3;
        } else {
            return 0;
        }
    }
    return 1;
}

static PyObject *Parser_count(ParserObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    fl_result *res = PyMem_Malloc(sizeof *res);
    if (res == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    long long lines = 0, ok = 0, ignored = 0, unknown = 0, fallback = 0, records = 0;
    const char *p = view.buf, *end = p + view.len;
    int failed = 0;
    /* files.py _lines: "\r\n" -> "\n", split("\n"), drop a last empty piece; a blank
     * piece is not parsed (and counts as ignored, as the ingester counts it) */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        Py_ssize_t n = e - p;
        if (nl && n > 0 && p[n - 1] == '\r')
            n--;
        lines++;
        if (blank((const unsigned char *)p, n)) {
            ignored++;
        } else if (fl_parse_line((PyObject *)self, p, n, res) < 0) {
            failed = 1;
            break;
        } else {
            switch (res->status) {
            case FL_OK:
                ok++;
                records += res->n_records;
                break;
            case FL_IGNORED:
                ignored++;
                break;
            case FL_UNKNOWN:
                unknown++;
                break;
            default:
                fallback++;
            }
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    PyMem_Free(res);
    PyBuffer_Release(&view);
    if (failed)
        return NULL;
    return Py_BuildValue("{sLsLsLsLsLsL}", "lines", lines, "ok", ok, "ignored", ignored, "unknown",
                         unknown, "fallback", fallback, "records", records);
}

static PyObject *Parser_get_stamps(ParserObject *self, void *closure) {
    Py_INCREF(self->st.stamps);
    return self->st.stamps;
}

static PyMethodDef Parser_methods[] = {
    {"parse", (PyCFunction)Parser_parse, METH_O,
     "parse(line) -> ParseResult | None: as LineParser.parse; None: the C parser declines "
     "(parse the line with the Python parser)."},
    {"count", (PyCFunction)Parser_count, METH_O,
     "count(data: bytes) -> dict: parse the lines of data (as the ingester splits them) and "
     "count lines, ok, ignored (blank lines included), unknown, fallback and records."},
    {NULL},
};

static PyGetSetDef Parser_getset[] = {
    {"stamps", (getter)Parser_get_stamps, NULL, "the StampParser", NULL},
    {NULL},
};

static PyTypeObject ParserType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mailtally.ingest._fastlog.Parser",
    .tp_doc = "Parser(stamps): the C twin of parsers.LineParser, with the StampParser `stamps`.",
    .tp_basicsize = sizeof(ParserObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Parser_new,
    .tp_dealloc = (destructor)Parser_dealloc,
    .tp_methods = Parser_methods,
    .tp_getset = Parser_getset,
};

int fl_parse_init(PyObject *module) {
    if (PyType_Ready(&ParserType) < 0)
        return -1;
    Py_INCREF(&ParserType);
    if (PyModule_AddObject(module, "Parser", (PyObject *)&ParserType) < 0) {
        Py_DECREF(&ParserType);
        return -1;
    }
    return 0;
}
