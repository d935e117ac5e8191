/* What the parse_*.c files share: Python's str methods on slices of an ASCII
 * line, and the answers of the per-program parsers.
 *
 * The C parser only ever sees ASCII lines (a line with a byte >= 0x80 falls back
 * to the Python parser), so Python's Unicode str methods reduce to the ASCII
 * tables below -- with Python's own idea of whitespace: str.isspace(),
 * str.strip() and str.split() count \x1c-\x1f as whitespace, and so does \s in
 * a regex compiled WITHOUT re.ASCII; \s in a regex compiled WITH re.ASCII does
 * not (the syslog header regexes).
 */
#ifndef MAILTALLY_FASTLOG_PARSE_UTIL_H
#define MAILTALLY_FASTLOG_PARSE_UTIL_H

#include <string.h>
#include "fastlog.h"

/* Character classes (ASCII). */
enum {
    C_SPACE = 1,   /* str.isspace(), and \s of a Unicode regex: \t\n\v\f\r \x1c-\x1f ' ' */
    C_RESPACE = 2, /* \s with re.ASCII: \t\n\v\f\r ' ' */
    C_DIGIT = 4,   /* str.isdigit(), \d */
    C_UPPER = 8,
    C_LOWER = 16,
    C_WORD = 32, /* \w: str.isalnum() or '_' */
};
extern const unsigned char fl_ctype[256];

#define IS_SPACE(c) (fl_ctype[(unsigned char)(c)] & C_SPACE)
#define IS_RESPACE(c) (fl_ctype[(unsigned char)(c)] & C_RESPACE)
#define IS_DIGIT(c) (fl_ctype[(unsigned char)(c)] & C_DIGIT)
#define IS_ALPHA(c) (fl_ctype[(unsigned char)(c)] & (C_UPPER | C_LOWER))
#define IS_ALNUM(c) (fl_ctype[(unsigned char)(c)] & (C_UPPER | C_LOWER | C_DIGIT))
#define IS_WORD(c) (fl_ctype[(unsigned char)(c)] & C_WORD)

/* What a per-program parser answers (the Python functions return a tuple, () or None). */
enum {
    R_ERROR = -1, /* a Python exception is set */
    R_NONE = 0,   /* None: not understood */
    R_EMPTY,      /* (): understood, nothing to count */
    R_RECS,       /* records were appended to the result */
    R_FALLBACK,   /* the C parser declines the line */
    R_OTHER,      /* (fl_parse_rspamd_json) None: not the program's line at all */
};

/* A growing buffer of the parser's own (PyMem), for text a line holds escaped. */
typedef struct {
    char *p;
    Py_ssize_t cap;
} fl_buf;

/* b->p with room for n bytes; NULL if memory is short (the caller falls back). */
static inline char *fl_buf_reserve(fl_buf *b, Py_ssize_t n) {
    if (n < 1)
        n = 1;
    if (b->cap < n) {
        char *q = PyMem_Realloc(b->p, (size_t)n);
        if (q == NULL)
            return NULL;
        b->p = q;
        b->cap = n;
    }
    return b->p;
}

/* -- slices, with Python's semantics ----------------------------------------------- */

static inline fl_str fl_s(const char *p, Py_ssize_t n) { return (fl_str){p, n}; }

/* s[a:b] for 0 <= a, b (clamped like Python; b < a gives ""). */
static inline fl_str sl(fl_str s, Py_ssize_t a, Py_ssize_t b) {
    if (a > s.n)
        a = s.n;
    if (b > s.n)
        b = s.n;
    if (b < a)
        b = a;
    return (fl_str){s.p + a, b - a};
}
/* s[a:] */
static inline fl_str from(fl_str s, Py_ssize_t a) { return sl(s, a, s.n); }

/* s.find(needle, start): -1 if absent (or start > len(s)). */
static inline Py_ssize_t find_n(fl_str s, const char *needle, Py_ssize_t m, Py_ssize_t start) {
    if (start < 0)
        start = 0;
    if (start > s.n || m > s.n - start)
        return -1;
    const char *p = s.p + start, *end = s.p + s.n - m + 1; /* candidates for the first byte */
    while (p < end) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (p == NULL)
            return -1;
        if (memcmp(p + 1, needle + 1, (size_t)(m - 1)) == 0)
            return p - s.p;
        p++;
    }
    return -1;
}
/* s.rfind(needle) */
static inline Py_ssize_t rfind_n(fl_str s, const char *needle, Py_ssize_t m) {
    for (Py_ssize_t i = s.n - m; i >= 0; i--)
        if (s.p[i] == needle[0] && memcmp(s.p + i, needle, (size_t)m) == 0)
            return i;
    return -1;
}
static inline Py_ssize_t findc(fl_str s, char c, Py_ssize_t start) {
    if (start < 0)
        start = 0;
    if (start >= s.n)
        return -1;
    const char *p = memchr(s.p + start, c, (size_t)(s.n - start));
    return p ? p - s.p : -1;
}
static inline Py_ssize_t rfindc(fl_str s, char c) {
    for (Py_ssize_t i = s.n - 1; i >= 0; i--)
        if (s.p[i] == c)
            return i;
    return -1;
}
/* s.startswith(prefix, at) */
static inline int starts_n(fl_str s, const char *prefix, Py_ssize_t m, Py_ssize_t at) {
    return at >= 0 && at <= s.n && s.n - at >= m && memcmp(s.p + at, prefix, (size_t)m) == 0;
}
static inline int ends_n(fl_str s, const char *suffix, Py_ssize_t m) {
    return s.n >= m && memcmp(s.p + s.n - m, suffix, (size_t)m) == 0;
}
static inline int eq_n(fl_str s, const char *lit, Py_ssize_t m) {
    return s.n == m && memcmp(s.p, lit, (size_t)m) == 0;
}

/* The same with a string literal. */
#define LIT(x) x, (Py_ssize_t)(sizeof(x) - 1)
#define FIND(s, x, start) find_n(s, LIT(x), start)
#define RFIND(s, x) rfind_n(s, LIT(x))
#define STARTS(s, x) starts_n(s, LIT(x), 0)
#define STARTS_AT(s, x, at) starts_n(s, LIT(x), at)
#define ENDS(s, x) ends_n(s, LIT(x))
#define EQ(s, x) eq_n(s, LIT(x))
#define CONTAINS(s, x) (FIND(s, x, 0) >= 0)

/* s.strip(), s.rstrip() (Python whitespace) */
static inline fl_str strip(fl_str s) {
    Py_ssize_t a = 0, b = s.n;
    while (a < b && IS_SPACE(s.p[a]))
        a++;
    while (b > a && IS_SPACE(s.p[b - 1]))
        b--;
    return (fl_str){s.p + a, b - a};
}
static inline fl_str rstrip(fl_str s) {
    while (s.n > 0 && IS_SPACE(s.p[s.n - 1]))
        s.n--;
    return s;
}
/* s.isdigit() (ASCII: non-empty, all 0-9) */
static inline int isdigits(fl_str s) {
    if (s.n == 0)
        return 0;
    for (Py_ssize_t i = 0; i < s.n; i++)
        if (!IS_DIGIT(s.p[i]))
            return 0;
    return 1;
}
/* int(s) of a digit string; 0 if it does not fit in int64 (the value is then *v = -1),
 * or if it has more than FL_MAX_DIGITS digits (leading zeros included), where the
 * Python parser refuses the number: the caller then lets Python decide. */
static inline int digits_value(fl_str s, int64_t *v) {
    if (s.n > FL_MAX_DIGITS) {
        *v = -1;
        return 0;
    }
    uint64_t x = 0;
    for (Py_ssize_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned)(s.p[i] - '0');
        if (x > (UINT64_C(0x7fffffffffffffff) - d) / 10) {
            *v = -1;
            return 0;
        }
        x = x * 10 + d;
    }
    *v = (int64_t)x;
    return 1;
}

/* -- the records of the line being parsed ------------------------------------------ */

/* A new record of `kind` in out (NULL if FL_MAX_RECORDS are used: the line falls back). */
static inline fl_record *add_record(fl_result *out, int kind) {
    if (out->n_records >= FL_MAX_RECORDS)
        return NULL;
    /* no memset (a record is ~1 KiB): each parser assigns every field of its record */
    fl_record *r = &out->records[out->n_records++];
    r->kind = kind;
    return r;
}

/* -- the per-program parsers (parse_postfix.c, parse_other.c) ------------------------ */

/* A parser's result `r`; when R_NONE, the line is of `family` (parsers.families), as
 * the Python parser's `return FAMILY` says: FAMILY(r, "dovecot login"). */
static inline int fl_family(fl_result *out, int r, const char *family, Py_ssize_t n) {
    if (r == R_NONE)
        out->family = (fl_str){family, n};
    return r;
}
#define FAMILY(r, family) fl_family(out, (r), LIT(family))

int fl_parse_postfix(fl_str daemon, fl_str msg, fl_result *out);
int fl_parse_dovecot(fl_str msg, fl_result *out);
int fl_parse_dovecot_parts(fl_str sub, fl_str rest, fl_result *out);
/* buf: where a JSON line's escaped strings are decoded (the parser's; slices of *out
 * may point into it until the next line) */
int fl_parse_rspamd(fl_str msg, fl_buf *buf, fl_result *out);
/* rspamd.parse_rspamd_json: R_OTHER for None, else the records' answer, with *t the
 * line's time (-1 for None) */
int fl_parse_rspamd_json(fl_str line, fl_buf *buf, fl_result *out, int64_t *t);
int fl_parse_amavis(fl_str msg, fl_result *out);
int fl_parse_roundcube(fl_str msg, fl_result *out);
int fl_parse_pmg(fl_str msg, fl_result *out);
int fl_parse_quota(fl_str line, fl_result *out);
int fl_parse_exim(fl_str msg, fl_result *out);
int fl_parse_spamd(fl_str msg, fl_result *out);
int fl_is_exim_id(fl_str s);

/* -- stamps (parse_stamps.c): the C twin of mailtally/ingest/stamps.py ------------- */

/* stamps.MAX_MONTH_NAME */
#define FL_MAX_MONTH_NAME 32

/* A minute of stamps, and what the Python StampParser answers for its seconds. */
typedef struct {
    int64_t key;  /* 0: empty slot */
    int64_t base; /* FL_MINUTE_LINEAR: the answer for second s is base + s
                     (of an hour's slot: for minute m, second s, base + 60 m + s) */
    int state;
} fl_minute;
enum { FL_MINUTE_LINEAR = 1, FL_MINUTE_NONE, FL_MINUTE_PER_SECOND };
#define FL_MINUTES 4096 /* slots of each cache (direct-mapped) */

typedef struct {
    PyObject *stamps;  /* the StampParser (owned reference) */
    int64_t reference; /* stamps.reference */
    int utc;           /* stamps._utc: local time is UTC */
    fl_minute classic_hours[FL_MINUTES]; /* Mmm dd hh -> StampParser.syslog, if linear */
    fl_minute classic[FL_MINUTES]; /* Mmm dd hh:mm -> StampParser.syslog */
    fl_minute local[FL_MINUTES];   /* YYYY-MM-DD hh:mm -> StampParser.local */
    /* stamps.months: localised month names (UTF-8) and their months */
    int n_months;
    struct {
        char name[FL_MAX_MONTH_NAME];
        Py_ssize_t n;
        int mo;
    } months[12];
    char *buf; /* the line of StampParser.english, made English (PyMem) */
    Py_ssize_t cap;
} fl_stamps;

/* stamps.StampParser(months=…) as the Parser finds it: st->months; -1 with an exception */
int fl_stamp_months(fl_stamps *st, PyObject *stamps);
/* StampParser.english: *line, or the line with its month made English in st->buf */
int fl_stamp_english(fl_stamps *st, fl_str *line);

/* Each returns R_RECS with *t set, R_NONE (Python answers None), R_FALLBACK, or
 * R_ERROR (an exception that must propagate, e.g. MemoryError). */
int fl_stamp_syslog(fl_stamps *st, fl_str stamp, int64_t *t);
int fl_stamp_rfc3339(fl_stamps *st, fl_str stamp, int64_t *t);
int fl_stamp_roundcube(fl_stamps *st, fl_str stamp, int64_t *t);

/* postfix._quote_end(t, i): just past the "..." string opening at t.p[i] (backslash
 * pairs inside), -1 if it does not close. */
static inline Py_ssize_t quote_end(fl_str t, Py_ssize_t i) {
    for (Py_ssize_t j = i + 1; j < t.n; j += t.p[j] == '\\' ? 2 : 1)
        if (t.p[j] == '"')
            return j + 1;
    return -1;
}

/* postfix._close(text, start): the ">" closing the address that begins at start,
 * past a quoted local part (not skipped when it does not close); -1 if none.  Why:
 * in postfix.py. */
static inline Py_ssize_t close_addr(fl_str text, Py_ssize_t start) {
    Py_ssize_t i = start < text.n && text.p[start] == '"' ? quote_end(text, start) : -1;
    return findc(text, '>', i < 0 ? start : i);
}

#endif
