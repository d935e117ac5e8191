/* Stamps -> UTC epoch seconds: the C twin of mailtally/ingest/stamps.py (the
 * reference).
 *
 * Stamps with an explicit offset (RFC 3339 "…Z" / "…+01:00", Roundcube's
 * "… +0100") are pure arithmetic and are computed here, exactly as stamps.py
 * computes them.  Stamps in the deployment zone -- classic "Mmm dd hh:mm:ss"
 * (whose year is inferred from the reference time) and offset-less RFC 3339 --
 * are answered by the Python StampParser, through a per-minute cache:
 *
 *   For one minute, the answer f(s) for the seconds s = 0..60 is asked of Python
 *   for s = 0 and s = 60 only.  If f(60) == f(0) + 60, then f(s) == f(0) + s for
 *   every s in between, because
 *     - for one candidate year, a zone's offset is constant within a minute (zone
 *       transitions fall on whole minutes), so that year's answer is linear in s;
 *     - StampParser.syslog answers with the latest candidate year whose moment is
 *       not after reference + slack: a condition that only gets harder as s grows,
 *       so the year chosen for s lies between the years chosen for 0 and 60 --
 *       and f(60) == f(0) + 60 says those two are one year (distinct years are
 *       days apart).
 *   If both are None, every s is None (each year's moment only grows with s).
 *   Otherwise -- a minute with the reference + slack boundary or a zone
 *   transition in it -- every stamp of that minute is asked of Python.
 *
 * Classic stamps are asked per hour first, the same way: hh:00:00 and hh:59:60
 * (= the next hour's first second).  If they are 3600 apart, the hour holds no
 * year boundary (distinct years are days apart) and no zone transition (one
 * would move one end and not the other; no zone has two transitions within an
 * hour), so every stamp of the hour is linear in it; otherwise its minutes are
 * asked as above.  A log of a hundred lines a minute then asks Python twice an
 * hour, not twice a minute.
 */
#include "parse_util.h"

static const int DIM[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

static int leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

/* _valid_date */
static int valid_date(int64_t y, int64_t m, int64_t d) {
    if (!(1 <= y && y <= 9999 && 1 <= m && m <= 12 && d >= 1))
        return 0;
    if (m == 2 && d == 29)
        return leap(y);
    return d <= DIM[m - 1];
}

/* days_from_civil (H. Hinnant), with Python's floor division */
static int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = floordiv(y >= 0 ? y : y - 399, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = floordiv(153 * (m + (m > 2 ? -3 : 9)) + 2, 5) + d - 1;
    int64_t doe = yoe * 365 + floordiv(yoe, 4) - floordiv(yoe, 100) + doy;
    return era * 146097 + doe - 719468;
}

/* _two(): an all-digit field as a number, -1 if not one.  Python's int is
 * unbounded; every caller only compares the value with small ranges, so a huge
 * value is clamped (to a value still out of every range). */
#define TWO_CLAMP INT64_C(1000000000000)
static int64_t two(fl_str s) {
    if (s.n > FL_MAX_DIGITS || !isdigits(s)) /* stamps.MAX_DIGITS */
        return -1;
    int64_t v = 0;
    for (Py_ssize_t i = 0; i < s.n; i++) {
        v = v * 10 + (s.p[i] - '0');
        if (v > TWO_CLAMP)
            v = TWO_CLAMP;
    }
    return v;
}

/* MONTHS.get(s) for a 3-character s, 0 if not a month */
static int month(const char *s) {
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (memcmp(names + 3 * i, s, 3) == 0)
            return i + 1;
    return 0;
}

/* _offset(): seconds east of UTC; 0 with *ok = 0 if not an offset */
static int64_t offset(fl_str t, int *ok) {
    *ok = 0;
    if (EQ(t, "Z") || EQ(t, "z")) {
        *ok = 1;
        return 0;
    }
    if (t.n < 3 || (t.p[0] != '+' && t.p[0] != '-'))
        return 0;
    fl_str hh = sl(t, 1, 3), mm;
    if (t.n == 3)
        mm = fl_s(LIT("00"));
    else if (t.n == 5)
        mm = sl(t, 3, 5);
    else if (t.n == 6 && t.p[3] == ':')
        mm = sl(t, 4, 6);
    else
        return 0;
    if (!(isdigits(hh) && isdigits(mm)))
        return 0;
    int64_t off = two(hh) * 3600 + two(mm) * 60;
    if (off > 18 * 3600)
        return 0;
    *ok = 1;
    return t.p[0] == '-' ? -off : off;
}

/* -- calling the StampParser ---------------------------------------------------------- */

/* An int answer of Python into *t: R_RECS, R_NONE for None; R_FALLBACK if the
 * call raised an Exception (the Python parser, given the line, will answer for
 * it: the reference catches such an exception), R_ERROR for anything graver. */
static int answer(PyObject *res, int64_t *t) {
    if (res == NULL) {
        if (PyErr_ExceptionMatches(PyExc_Exception) && !PyErr_ExceptionMatches(PyExc_MemoryError)) {
            PyErr_Clear();
            return R_FALLBACK;
        }
        return R_ERROR;
    }
    if (res == Py_None) {
        Py_DECREF(res);
        return R_NONE;
    }
    int overflow = 0;
    long long v = PyLong_Check(res) ? PyLong_AsLongLongAndOverflow(res, &overflow) : -1;
    int bad = !PyLong_Check(res) || overflow || (v == -1 && PyErr_Occurred());
    Py_DECREF(res);
    if (bad) {
        PyErr_Clear();
        return R_FALLBACK;
    }
    *t = v;
    return R_RECS;
}

static int call_syslog(fl_stamps *st, const char *text, Py_ssize_t n, int64_t *t) {
    PyObject *s = PyUnicode_DecodeASCII(text, n, NULL);
    if (s == NULL)
        return R_ERROR;
    PyObject *res = PyObject_CallMethod(st->stamps, "syslog", "O", s);
    Py_DECREF(s);
    return answer(res, t);
}

static int call_local(fl_stamps *st, int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi,
                      int64_t s, int64_t *t) {
    PyObject *res = PyObject_CallMethod(st->stamps, "local", "LLLLLL", (long long)y, (long long)mo,
                                        (long long)d, (long long)h, (long long)mi, (long long)s);
    return answer(res, t);
}

static fl_minute *slot(fl_minute *cache, int64_t key) {
    uint64_t h = (uint64_t)key * UINT64_C(0x9E3779B97F4A7C15);
    return &cache[(h >> 40) % FL_MINUTES];
}

/* Fill a minute's slot from the answers for second 0 and second 60 (see the top). */
static void learn(fl_minute *m, int64_t key, int r0, int64_t t0, int r60, int64_t t60) {
    m->key = key;
    if (r0 == R_NONE && r60 == R_NONE)
        m->state = FL_MINUTE_NONE;
    else if (r0 == R_RECS && r60 == R_RECS && t60 - t0 == 60) {
        m->state = FL_MINUTE_LINEAR;
        m->base = t0;
    } else
        m->state = FL_MINUTE_PER_SECOND;
}

static int from_minute(const fl_minute *m, int64_t s, int64_t *t) {
    if (m->state == FL_MINUTE_NONE)
        return R_NONE;
    *t = m->base + s;
    return R_RECS;
}

/* -- local wall time (StampParser.local) ---------------------------------------------- */

static int local(fl_stamps *st, int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi,
                 int64_t s, int64_t *t) {
    if (!(valid_date(y, mo, d) && 0 <= h && h < 24 && 0 <= mi && mi < 60 && 0 <= s && s <= 60))
        return R_NONE;
    if (st->utc) {
        *t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
        return R_RECS;
    }
    int64_t key = ((((y * 13 + mo) * 32 + d) * 24 + h) * 60 + mi) + 1;
    fl_minute *m = slot(st->local, key);
    if (m->key != key) {
        int64_t t0 = 0, t60 = 0;
        int r0 = call_local(st, y, mo, d, h, mi, 0, &t0);
        if (r0 == R_ERROR || r0 == R_FALLBACK)
            return r0;
        int r60 = call_local(st, y, mo, d, h, mi, 60, &t60);
        if (r60 == R_ERROR || r60 == R_FALLBACK)
            return r60;
        learn(m, key, r0, t0, r60, t60);
    }
    if (m->state == FL_MINUTE_PER_SECOND)
        return call_local(st, y, mo, d, h, mi, s, t);
    return from_minute(m, s, t);
}

/* -- classic syslog (StampParser.syslog) ---------------------------------------------- */

int fl_stamp_syslog(fl_stamps *st, fl_str stamp, int64_t *t) {
    /* _syslog() */
    Py_ssize_t n = stamp.n;
    const char *p = stamp.p;
    if (n < 14 || p[n - 3] != ':' || p[n - 6] != ':' || p[n - 9] != ' ')
        return R_NONE;
    fl_str mi_text = sl(stamp, n - 5, n - 3), s_text = sl(stamp, n - 2, n);
    if (!(isdigits(mi_text) && isdigits(s_text)))
        return R_NONE;
    int64_t mi = two(mi_text), s = two(s_text);
    if (mi >= 60 || s > 60)
        return R_NONE;
    /* _hour_starts(key), key = stamp[:-6]: "Mmm dd hh" -- month, then key[4:].split()
     * must be [day, hour]; no valid day or hour: no candidate year, None. */
    fl_str key = sl(stamp, 0, n - 6);
    int mo = month(key.p);
    if (!mo)
        return R_NONE;
    fl_str parts[2];
    int np = 0;
    for (Py_ssize_t i = 4; i < key.n;) {
        while (i < key.n && IS_SPACE(key.p[i]))
            i++;
        if (i >= key.n)
            break;
        Py_ssize_t b = i;
        while (i < key.n && !IS_SPACE(key.p[i]))
            i++;
        if (np == 2)
            return R_NONE; /* len(parts) != 2 */
        parts[np++] = sl(key, b, i);
    }
    if (np != 2)
        return R_NONE;
    int64_t d = two(parts[0]), h = two(parts[1]);
    if (d < 1 || d > 31 || h < 0 || h >= 24)
        return R_NONE; /* d > 31: _valid_date fails for every candidate year */
    int64_t hkey = ((mo * 32 + d) * 24 + h) + 1;
    fl_minute *hour = slot(st->classic_hours, hkey);
    if (hour->key != hkey && n <= 64) {
        /* Ask for hh:00:00 and hh:59:60 of this very stamp text. */
        char buf[64];
        memcpy(buf, p, (size_t)n);
        int64_t t0 = 0, t3600 = 0;
        memcpy(buf + n - 5, "00:00", 5);
        int r0 = call_syslog(st, buf, n, &t0);
        if (r0 == R_ERROR || r0 == R_FALLBACK)
            return r0;
        memcpy(buf + n - 5, "59:60", 5);
        int r3600 = call_syslog(st, buf, n, &t3600);
        if (r3600 == R_ERROR || r3600 == R_FALLBACK)
            return r3600;
        hour->key = hkey;
        hour->base = t0;
        /* (only a linear hour is taken whole: two Nones at its ends could be a
         * zone's gap at one end and the year boundary at the other) */
        hour->state = r0 == R_RECS && r3600 == R_RECS && t3600 - t0 == 3600
                          ? FL_MINUTE_LINEAR
                          : FL_MINUTE_PER_SECOND;
    }
    if (hour->key == hkey && hour->state == FL_MINUTE_LINEAR) {
        *t = hour->base + mi * 60 + s;
        return R_RECS;
    }
    int64_t mkey = (((mo * 32 + d) * 24 + h) * 60 + mi) + 1;
    fl_minute *m = slot(st->classic, mkey);
    if (m->key != mkey) {
        /* Ask for seconds 00 and 60 of this very stamp text. */
        char buf[64];
        if (n > (Py_ssize_t)sizeof buf)
            return call_syslog(st, p, n, t);
        memcpy(buf, p, (size_t)n);
        int64_t t0 = 0, t60 = 0;
        buf[n - 2] = '0';
        buf[n - 1] = '0';
        int r0 = call_syslog(st, buf, n, &t0);
        if (r0 == R_ERROR || r0 == R_FALLBACK)
            return r0;
        buf[n - 2] = '6';
        int r60 = call_syslog(st, buf, n, &t60);
        if (r60 == R_ERROR || r60 == R_FALLBACK)
            return r60;
        learn(m, mkey, r0, t0, r60, t60);
    }
    if (m->state == FL_MINUTE_PER_SECOND)
        return call_syslog(st, p, n, t);
    return from_minute(m, s, t);
}

/* -- RFC 3339 (StampParser.rfc3339 / _rfc3339) ---------------------------------------- */

int fl_stamp_rfc3339(fl_stamps *st, fl_str stamp, int64_t *t) {
    const char *p = stamp.p;
    Py_ssize_t n = stamp.n;
    /* StampParser.rfc3339 answers a stamp "YYYY-MM-DDThh:mm:s" (one digit of seconds)
     * from its per-minute cache when the stamp before had the same minute -- a value,
     * where _rfc3339 (and a fresh parser) answers None.  The answer depends on the
     * Python parser's history: leave such a line to it.  (Its cache key is the
     * stamp's first 16 characters: only a well-formed minute can be in it.) */
    if (n == 18 && p[16] == ':' && IS_DIGIT(p[17])) {
        static const char shape[] = "dddd-dd-ddTdd:dd"; /* T: any of "Tt " */
        int minute = 1;
        for (int i = 0; i < 16 && minute; i++)
            minute = shape[i] == 'd' ? IS_DIGIT(p[i]) != 0
                     : shape[i] == 'T' ? (p[i] == 'T' || p[i] == 't' || p[i] == ' ')
                                       : p[i] == shape[i];
        if (minute)
            return R_FALLBACK;
    }
    if (n < 19)
        return R_NONE;
    if (p[4] != '-' || p[7] != '-' || p[13] != ':' || p[16] != ':')
        return R_NONE;
    if (p[10] != 'T' && p[10] != 't' && p[10] != ' ')
        return R_NONE;
    int64_t y = two(sl(stamp, 0, 4)), mo = two(sl(stamp, 5, 7)), d = two(sl(stamp, 8, 10));
    int64_t h = two(sl(stamp, 11, 13)), mi = two(sl(stamp, 14, 16)), s = two(sl(stamp, 17, 19));
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0)
        return R_NONE;
    fl_str rest = from(stamp, 19);
    if (rest.n > 0 && (rest.p[0] == '.' || rest.p[0] == ',')) {
        Py_ssize_t i = 1;
        while (i < rest.n && IS_DIGIT(rest.p[i]))
            i++;
        if (i == 1)
            return R_NONE; /* a point without digits */
        rest = from(rest, i);
    }
    if (rest.n == 0)
        return local(st, y, mo, d, h, mi, s, t);
    int ok;
    int64_t off = offset(rest, &ok);
    if (!ok)
        return R_NONE;
    if (!(valid_date(y, mo, d) && h < 24 && mi < 60 && s <= 60))
        return R_NONE;
    *t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
    return R_RECS;
}

/* -- Roundcube (StampParser.roundcube) ------------------------------------------------ */

/* text.replace(" " + c, c) into buf; the new length */
static Py_ssize_t drop_space_before(const char *text, Py_ssize_t n, char c, char *buf) {
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (text[i] == ' ' && i + 1 < n && text[i + 1] == c) {
            buf[k++] = c;
            i++;
        } else {
            buf[k++] = text[i];
        }
    }
    return k;
}

int fl_stamp_roundcube(fl_stamps *st, fl_str stamp, int64_t *t) {
    if (stamp.n >= 5 && IS_DIGIT(stamp.p[0]) && stamp.p[4] == '-') {
        /* rfc3339(stamp.replace(" +", "+").replace(" -", "-")) */
        char small[128];
        char *a = stamp.n <= (Py_ssize_t)sizeof small / 2 ? small : PyMem_Malloc((size_t)stamp.n * 2);
        if (a == NULL) {
            PyErr_NoMemory();
            return R_ERROR;
        }
        char *b = a + stamp.n;
        Py_ssize_t n1 = drop_space_before(stamp.p, stamp.n, '+', a);
        Py_ssize_t n2 = drop_space_before(a, n1, '-', b);
        int r = fl_stamp_rfc3339(st, fl_s(b, n2), t);
        if (a != small)
            PyMem_Free(a);
        return r;
    }
    /* parts = stamp.split() (2 or 3 of them) */
    fl_str parts[3];
    int np = 0;
    for (Py_ssize_t i = 0; i < stamp.n;) {
        while (i < stamp.n && IS_SPACE(stamp.p[i]))
            i++;
        if (i >= stamp.n)
            break;
        Py_ssize_t b = i;
        while (i < stamp.n && !IS_SPACE(stamp.p[i]))
            i++;
        if (np == 3)
            return R_NONE;
        parts[np++] = sl(stamp, b, i);
    }
    if (np != 2 && np != 3)
        return R_NONE;
    /* dmy = parts[0].split("-"), three of them */
    fl_str dmy[3];
    Py_ssize_t a = 0;
    for (int i = 0; i < 3; i++) {
        Py_ssize_t e = findc(parts[0], '-', a);
        if ((e < 0) != (i == 2))
            return R_NONE; /* fewer or more than three */
        dmy[i] = e < 0 ? from(parts[0], a) : sl(parts[0], a, e);
        a = e + 1;
    }
    /* MONTHS.get(m[:1].upper() + m[1:3].lower()) */
    int mo = 0;
    if (dmy[1].n >= 3) {
        char m3[3];
        m3[0] = dmy[1].p[0];
        if (m3[0] >= 'a' && m3[0] <= 'z')
            m3[0] = (char)(m3[0] - 'a' + 'A');
        for (int i = 1; i < 3; i++) {
            m3[i] = dmy[1].p[i];
            if (m3[i] >= 'A' && m3[i] <= 'Z')
                m3[i] = (char)(m3[i] - 'A' + 'a');
        }
        mo = month(m3);
    }
    int64_t d = two(dmy[0]), y = two(dmy[2]);
    fl_str clock = parts[1];
    if (!mo || d < 1 || y < 1 || clock.n != 8 || clock.p[2] != ':' || clock.p[5] != ':')
        return R_NONE;
    int64_t h = two(sl(clock, 0, 2)), mi = two(sl(clock, 3, 5)), s = two(sl(clock, 6, 8));
    if (h < 0 || mi < 0 || s < 0)
        return R_NONE;
    if (np == 2)
        return local(st, y, mo, d, h, mi, s, t);
    int ok;
    int64_t off = offset(parts[2], &ok);
    if (!ok) {
        fl_str z = parts[2];
        int utc_name = z.n == 3 && ((z.p[0] | 32) == 'u' ? ((z.p[1] | 32) == 't' && (z.p[2] | 32) == 'c')
                                                         : ((z.p[0] | 32) == 'g' && (z.p[1] | 32) == 'm' &&
                                                            (z.p[2] | 32) == 't'));
        if (!utc_name) {
            /* a zone name: ZoneInfo and datetime, in Python (rare) */
            PyObject *text = PyUnicode_DecodeASCII(stamp.p, stamp.n, NULL);
            if (text == NULL)
                return R_ERROR;
            PyObject *res = PyObject_CallMethod(st->stamps, "roundcube", "O", text);
            Py_DECREF(text);
            return answer(res, t);
        }
        off = 0;
    }
    if (!(valid_date(y, mo, d) && h < 24 && mi < 60 && s <= 60))
        return R_NONE;
    *t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
    return R_RECS;
}

/* -- localised month names (StampParser.months, StampParser.english) ------------------------ */

static const char ENGLISH[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Read stamps.months, the (name, month) pairs of month_table(): at most 12 names of at
 * most FL_MAX_MONTH_NAME bytes each, months 1-12 (what month_table gives). */
int fl_stamp_months(fl_stamps *st, PyObject *stamps) {
    st->n_months = 0;
    PyObject *months = PyObject_GetAttrString(stamps, "months");
    if (months == NULL)
        return -1;
    PyObject *seq = PySequence_Fast(months, "StampParser.months must be a sequence");
    Py_DECREF(months);
    if (seq == NULL)
        return -1;
    int rc = -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > 12) {
        PyErr_SetString(PyExc_ValueError, "StampParser.months: more than 12 names");
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name, *mo_obj;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "UO", &name, &mo_obj))
            goto out;
        Py_ssize_t len;
        const char *p = PyUnicode_AsUTF8AndSize(name, &len);
        long mo = PyLong_AsLong(mo_obj);
        if (p == NULL || (mo == -1 && PyErr_Occurred()))
            goto out;
        if (len < 1 || len > FL_MAX_MONTH_NAME || mo < 1 || mo > 12) {
            PyErr_SetString(PyExc_ValueError, "StampParser.months: not a month name");
            goto out;
        }
        memcpy(st->months[i].name, p, (size_t)len);
        st->months[i].n = len;
        st->months[i].mo = (int)mo;
    }
    st->n_months = (int)n;
    rc = 0;
out:
    Py_DECREF(seq);
    return rc;
}

int fl_stamp_english(fl_stamps *st, fl_str *line) {
    for (int i = 0; i < st->n_months; i++) {
        Py_ssize_t k = st->months[i].n;
        if (line->n > k && line->p[k] == ' ' && memcmp(line->p, st->months[i].name, (size_t)k) == 0) {
            Py_ssize_t need = 3 + line->n - k;
            if (need > st->cap) {
                char *b = PyMem_Realloc(st->buf, (size_t)need);
                if (b == NULL) {
                    PyErr_NoMemory();
                    return -1;
                }
                st->buf = b;
                st->cap = need;
            }
            memcpy(st->buf, ENGLISH[st->months[i].mo - 1], 3);
            memcpy(st->buf + 3, line->p + k, (size_t)(line->n - k));
            *line = fl_s(st->buf, need);
            return 0;
        }
    }
    return 0;
}
