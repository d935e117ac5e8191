/* Part of the C twin of mailtally.ingest.join (the Python module is the
 * reference): strings, the resolve cache, and the events.  See join.h. */
#include "join.h"

/* -- events -------------------------------------------------------------------------- */

#include <structmember.h>

/* The classes of mailtally.events, imported once (by the first Joiner). */
static PyObject *cls_message_in, *cls_message_out, *cls_denied, *cls_forward,
    *cls_autoresponse, *cls_login, *cls_storage;
static PyObject *event_types; /* _EVENT_TYPES: class name -> class */
typedef struct evclass evclass;
static void ev_inspect(evclass *e, PyObject *cls);
static evclass *ev_info_at(int i);
static PyObject *str_imap4, *str_pop3, *str_webmail, *str_kind, *str_lower,
    *str_dataclass_fields;

int join_import_events(void) {
    if (event_types != NULL)
        return 0;
    PyObject *mod = PyImport_ImportModule("mailtally.events");
    if (mod == NULL)
        return -1;
    struct {
        PyObject **slot;
        const char *name;
    } want[] = {
        {&cls_autoresponse, "Autoresponse"}, {&cls_forward, "Forward"},
        {&cls_login, "Login"},               {&cls_denied, "MessageDenied"},
        {&cls_message_in, "MessageIn"},      {&cls_message_out, "MessageOut"},
        {&cls_storage, "StorageReport"},
    };
    PyObject *types = PyDict_New();
    if (types == NULL)
        goto fail;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        PyObject *c = PyObject_GetAttrString(mod, want[i].name);
        if (c == NULL || PyDict_SetItemString(types, want[i].name, c) < 0) {
            Py_XDECREF(c);
            goto fail;
        }
        Py_XSETREF(*want[i].slot, c);
    }
    str_imap4 = PyUnicode_InternFromString("imap4");
    str_pop3 = PyUnicode_InternFromString("pop3");
    str_webmail = PyUnicode_InternFromString("webmail");
    str_kind = PyUnicode_InternFromString("kind");
    str_lower = PyUnicode_InternFromString("lower");
    str_dataclass_fields = PyUnicode_InternFromString("__dataclass_fields__");
    if (!str_imap4 || !str_pop3 || !str_webmail || !str_kind || !str_lower ||
        !str_dataclass_fields)
        goto fail;
    PyObject *all[7] = {cls_autoresponse, cls_forward, cls_login, cls_denied,
                        cls_message_in, cls_message_out, cls_storage};
    for (int i = 0; i < 7; i++)
        ev_inspect(ev_info_at(i), all[i]);
    Py_DECREF(mod);
    event_types = types;
    return 0;
fail:
    Py_XDECREF(types);
    Py_DECREF(mod);
    return -1;
}

PyObject *jstr_py(const char *p, Py_ssize_t n) {
    if (p == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(p, n, "surrogatepass");
}

PyObject *ostr_py(const ostr *o) { return jstr_py(o->p, o->n); }

int jint_truthy(const jint *x) { return x->has && (x->big != NULL || x->v != 0); }

/* Building an event by calling its class costs ~0.5 µs (a frozen dataclass's
 * __init__ sets each field with object.__setattr__), as much as joining a line.  When
 * the class is a plain frozen, slotted dataclass — its __init__ the one dataclasses
 * wrote, no __post_init__, every field a slot — the instance is built as that __init__
 * would: allocated, and each slot set (trailing fields to their defaults).  The
 * object is the same (type, fields, equality, hash).  Otherwise the class is called. */
#define MAX_EV_FIELDS 6
struct evclass {
    PyObject *cls;
    int fast, nfields;
    Py_ssize_t off[MAX_EV_FIELDS];
    PyObject *dflt[MAX_EV_FIELDS]; /* NULL: no default */
};
static evclass ev_info[7];
static evclass *ev_info_at(int i) { return &ev_info[i]; }

static void ev_inspect(evclass *e, PyObject *cls) {
    e->cls = cls;
    e->fast = 0;
    PyObject *fields = PyObject_GetAttrString(cls, "__dataclass_fields__");
    PyObject *init = PyObject_GetAttrString(cls, "__init__");
    PyObject *qn = init ? PyObject_GetAttrString(init, "__qualname__") : NULL;
    PyObject *want = PyUnicode_FromFormat("%s.__init__", ((PyTypeObject *)cls)->tp_name);
    int ok = fields && PyDict_Check(fields) && qn && want && PyFunction_Check(init) &&
             PyUnicode_Compare(qn, want) == 0 && !PyObject_HasAttrString(cls, "__post_init__") &&
             PyDict_GET_SIZE(fields) <= MAX_EV_FIELDS &&
             ((PyTypeObject *)cls)->tp_new == PyBaseObject_Type.tp_new;
    PyObject *name, *f;
    Py_ssize_t pos = 0;
    int i = 0;
    while (ok && PyDict_Next(fields, &pos, &name, &f)) {
        PyObject *d = PyDict_GetItemWithError(((PyTypeObject *)cls)->tp_dict, name);
        ok = d != NULL && Py_IS_TYPE(d, &PyMemberDescr_Type) &&
             ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
        if (!ok)
            break;
        e->off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        PyObject *dv = PyObject_GetAttrString(f, "default");
        PyObject *missing = PyObject_GetAttrString(f, "default_factory");
        ok = dv != NULL && missing != NULL;
        /* a field without default has default == default_factory == dataclasses.MISSING */
        e->dflt[i] = (ok && dv != missing) ? Py_NewRef(dv) : NULL;
        Py_XDECREF(dv);
        Py_XDECREF(missing);
        i++;
    }
    PyErr_Clear();
    e->nfields = i;
    e->fast = ok;
    Py_XDECREF(fields);
    Py_XDECREF(init);
    Py_XDECREF(qn);
    Py_XDECREF(want);
}

static evclass *ev_of(PyObject *cls) {
    for (int i = 0; i < 7; i++)
        if (ev_info[i].cls == cls)
            return &ev_info[i];
    return NULL;
}

/* cls(*args), the args' references stolen (any may be NULL: then -1's NULL). */
static PyObject *make(PyObject *cls, PyObject **args, size_t n) {
    PyObject *ev = NULL;
    size_t i;
    for (i = 0; i < n; i++)
        if (args[i] == NULL)
            break;
    evclass *e = ev_of(cls);
    if (i == n && e != NULL && e->fast && (int)n <= e->nfields) {
        int k;
        for (k = (int)n; k < e->nfields; k++)
            if (e->dflt[k] == NULL)
                break;
        if (k == e->nfields && (ev = ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 0))) {
            for (k = 0; k < e->nfields; k++) {
                PyObject *v = k < (int)n ? args[k] : e->dflt[k];
                Py_INCREF(v);
                *(PyObject **)((char *)ev + e->off[k]) = v;
            }
        }
    } else if (i == n) {
        ev = PyObject_Vectorcall(cls, args, n, NULL);
    }
    for (i = 0; i < n; i++)
        Py_XDECREF(args[i]);
    return ev;
}

PyObject *fl_new_event(PyObject *cls, PyObject **args, size_t n) { return make(cls, args, n); }

/* MessageIn(int(t), user, size, spam) */
PyObject *ev_message_in(int64_t t, const char *u, Py_ssize_t un, const jint *size, int spam) {
    PyObject *a[4] = {PyLong_FromLongLong(t), jstr_py(u, un), jint_py(size),
                      Py_NewRef(spam ? Py_True : Py_False)};
    return make(cls_message_in, a, 4);
}

/* MessageOut(t, m.sasl, max(0, r.nrcpt), max(0, r.size)) (maxima done by the caller) */
PyObject *ev_message_out(int64_t t, const ostr *user, const jint *nrcpt, const jint *size) {
    PyObject *a[4] = {PyLong_FromLongLong(t), ostr_py(user), jint_py(nrcpt), jint_py(size)};
    return make(cls_message_out, a, 4);
}

PyObject *ev_denied(int64_t t, const char *r, Py_ssize_t rn) {
    PyObject *a[2] = {PyLong_FromLongLong(t), jstr_py(r, rn)};
    return make(cls_denied, a, 2);
}

PyObject *ev_forward(int64_t t, const char *u, Py_ssize_t un) {
    PyObject *a[2] = {PyLong_FromLongLong(t), jstr_py(u, un)};
    return make(cls_forward, a, 2);
}

PyObject *ev_autoresponse(int64_t t, fl_str user) {
    PyObject *a[2] = {PyLong_FromLongLong(t), jstr_py(user.p, user.n)};
    return make(cls_autoresponse, a, 2);
}

/* Login(t, user, service); service borrowed (NULL: "webmail") */
PyObject *ev_login(int64_t t, fl_str user, PyObject *service) {
    PyObject *a[3] = {PyLong_FromLongLong(t), jstr_py(user.p, user.n),
                      Py_NewRef(service ? service : str_webmail)};
    return make(cls_login, a, 3);
}

/* StorageReport(int(q[4]), q[0], int(q[3] or 0), int(q[2] or 0)) */
PyObject *ev_storage(int64_t t, const ostr *user, const jint *items, const jint *bytes) {
    jint zero = {1, 0, NULL};
    PyObject *a[4] = {PyLong_FromLongLong(t), ostr_py(user),
                      jint_py(jint_truthy(items) ? items : &zero),
                      jint_py(jint_truthy(bytes) ? bytes : &zero)};
    return make(cls_storage, a, 4);
}

PyObject *join_service_str(int service) { return service == FL_POP3 ? str_pop3 : str_imap4; }

/* _emit: append to the outbox, count. */
int join_emit(Joiner *j, PyObject *ev) {
    if (ev == NULL)
        return -1;
    int rc = PyList_Append(j->outbox, ev);
    Py_DECREF(ev);
    if (rc < 0)
        return -1;
    j->events++;
    return 0;
}

/* _event_dump: asdict(ev) plus "kind" (the class name), fields in declaration order. */
PyObject *join_event_dump(PyObject *ev) {
    PyObject *fields = PyObject_GetAttr((PyObject *)Py_TYPE(ev), str_dataclass_fields);
    if (fields == NULL)
        return NULL;
    PyObject *d = PyDict_New();
    PyObject *name, *f;
    Py_ssize_t pos = 0;
    if (d == NULL)
        goto fail;
    while (PyDict_Next(fields, &pos, &name, &f)) {
        PyObject *v = PyObject_GetAttr(ev, name);
        if (v == NULL || PyDict_SetItem(d, name, v) < 0) {
            Py_XDECREF(v);
            goto fail;
        }
        Py_DECREF(v);
    }
    PyObject *kind = PyUnicode_FromString(_PyType_Name(Py_TYPE(ev)));
    if (kind == NULL || PyDict_SetItem(d, str_kind, kind) < 0) {
        Py_XDECREF(kind);
        goto fail;
    }
    Py_DECREF(kind);
    Py_DECREF(fields);
    return d;
fail:
    Py_XDECREF(d);
    Py_DECREF(fields);
    return NULL;
}

/* _event_load: fields = dict(d); cls = _EVENT_TYPES[fields.pop("kind")]; cls(**fields) */
PyObject *join_event_load(PyObject *d) {
    PyObject *fields = PyObject_CallOneArg((PyObject *)&PyDict_Type, d);
    if (fields == NULL)
        return NULL;
    PyObject *ev = NULL, *empty = NULL;
    PyObject *kind = PyDict_GetItemWithError(fields, str_kind);
    if (kind == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, str_kind);
        goto done;
    }
    Py_INCREF(kind);
    if (PyDict_DelItem(fields, str_kind) < 0) {
        Py_DECREF(kind);
        goto done;
    }
    PyObject *cls = PyObject_GetItem(event_types, kind); /* KeyError as the reference */
    Py_DECREF(kind);
    if (cls == NULL)
        goto done;
    empty = PyTuple_New(0);
    if (empty != NULL)
        ev = PyObject_Call(cls, empty, fields);
    Py_DECREF(cls);
done:
    Py_XDECREF(empty);
    Py_DECREF(fields);
    return ev;
}

/* -- strings ------------------------------------------------------------------------- */

/* str.lower() of UTF-8 text.  ASCII text is lowered here; other text by Python's own
 * str.lower (Unicode lower-casing may change the length: "İ" -> "i̇"). */
int join_lower(const char *p, Py_ssize_t n, tbuf *out) {
    Py_ssize_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            break;
    if (i == n) {
        char *d = tb_reserve(out, n);
        if (d == NULL)
            return -1;
        for (i = 0; i < n; i++) {
            char c = p[i];
            d[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        out->n = n;
        return 0;
    }
    PyObject *s = PyUnicode_DecodeUTF8(p, n, "surrogatepass");
    if (s == NULL)
        return -1;
    PyObject *l = PyObject_CallMethodNoArgs(s, str_lower);
    Py_DECREF(s);
    if (l == NULL)
        return -1;
    PyObject *b = PyUnicode_AsEncodedString(l, "utf-8", "surrogatepass");
    Py_DECREF(l);
    if (b == NULL)
        return -1;
    int rc = tb_set(out, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return rc;
}

static Py_ssize_t rfind_byte(const char *p, Py_ssize_t n, char c) {
    for (Py_ssize_t i = n - 1; i >= 0; i--)
        if (p[i] == c)
            return i;
    return -1;
}

/* str.find(needle) in p[0:n]; UTF-8 is self-synchronising, so a byte match is a
 * character match, and byte offset 0 is character offset 0. */
static Py_ssize_t find_bytes(const char *p, Py_ssize_t n, const char *d, Py_ssize_t dn) {
    if (dn == 0)
        return 0;
    for (Py_ssize_t i = 0; i + dn <= n; i++)
        if (p[i] == d[0] && memcmp(p + i, d, (size_t)dn) == 0)
            return i;
    return -1;
}

/* The address extension cut out of p[0:n] in place: local[:k] + a[at:]. */
static Py_ssize_t cut_ext(const Joiner *j, char *a, Py_ssize_t n) {
    Py_ssize_t at = rfind_byte(a, n, '@');
    Py_ssize_t ln = at < 0 ? n : at;
    Py_ssize_t k = find_bytes(a, ln, j->delim.p, j->delim.n);
    if (k <= 0)
        return n;
    if (at < 0)
        return k;
    memmove(a + k, a + at, (size_t)(n - at));
    return k + (n - at);
}

/* _norm: the grouping key of an address: lower case, without address extension.
 * (The extension is searched in the lowered text, as the reference does.) */
int join_norm(Joiner *j, const char *p, Py_ssize_t n, tbuf *out) {
    if (join_lower(p, n, out) < 0)
        return -1;
    if (j->delim.n > 0)
        out->n = cut_ext(j, out->p, out->n);
    return 0;
}

/* _strip_ext */
int join_strip_ext(Joiner *j, const char *p, Py_ssize_t n, tbuf *out) {
    if (tb_set(out, p, n) < 0)
        return -1;
    if (j->delim.n > 0)
        out->n = cut_ext(j, out->p, out->n);
    return 0;
}

/* _mailbox: the grouping key of a local delivery; a "to" whose extension routes to a
 * distinct account (to=<vmail+jsmith@host>, orig_to=<jsmith@...>) keeps it. */
int join_mailbox(Joiner *j, const char *p, Py_ssize_t n, int has_orig, tbuf *out) {
    if (join_lower(p, n, out) < 0)
        return -1;
    if (j->delim.n > 0 && !has_orig)
        out->n = cut_ext(j, out->p, out->n);
    return 0;
}

static int starts(const char *p, Py_ssize_t n, const char *lit) {
    size_t l = strlen(lit);
    return (size_t)n >= l && memcmp(p, lit, l) == 0;
}

/* _loopback */
int join_loopback(const char *ip, Py_ssize_t n) {
    if (starts(ip, n, "::ffff:")) {
        ip += 7;
        n -= 7;
    }
    return starts(ip, n, "127.") || bytes_eq(ip, n, "::1", 3) || bytes_eq(ip, n, "localhost", 9);
}

/* _filter_id: the id ending a filter's answer "... (ID)" (ASCII letters and digits;
 * Proxmox Mail Gateway: "250 2.5.0 OK (5F1C8A2B3D4E6F70A81)"); n == 0 if none */
fl_str join_filter_id(fl_str response) {
    fl_str none = {response.p, 0};
    if (response.n == 0 || response.p[response.n - 1] != ')')
        return none;
    Py_ssize_t b = -1;
    for (Py_ssize_t i = response.n - 2; i >= 0; i--)
        if (response.p[i] == ' ' && response.p[i + 1] == '(') {
            b = i;
            break;
        }
    if (b < 0 || b + 2 >= response.n - 1)
        return none;
    fl_str id = {response.p + b + 2, response.n - 1 - (b + 2)};
    for (Py_ssize_t i = 0; i < id.n; i++) {
        char c = id.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return none;
    }
    return id;
}

/* _ip_of: "host[ip]:port" -> ip ("" when none) and the port's digits (p NULL when
 * the reference's port is None: not all ASCII digits, or empty). */
void join_ip_of(fl_str relay, fl_str *ip, fl_str *port) {
    static const char empty[1] = "";
    *ip = (fl_str){empty, 0};
    *port = FL_NONE;
    const char *r = relay.p;
    Py_ssize_t n = relay.n, b, e;
    for (b = 0; b < n && r[b] != '['; b++)
        ;
    if (b >= n)
        return;
    for (e = b; e < n && r[e] != ']'; e++)
        ;
    if (e >= n)
        return;
    *ip = (fl_str){r + b + 1, e - b - 1};
    if (e + 1 < n && r[e + 1] == ':') {
        const char *d = r + e + 2;
        Py_ssize_t dn = n - e - 2;
        for (Py_ssize_t i = 0; i < dn; i++)
            if (d[i] < '0' || d[i] > '9')
                return;
        /* more than MAX_DIGITS digits is not a number (stamps.MAX_DIGITS) */
        if (dn > 0 && dn <= FL_MAX_DIGITS)
            *port = (fl_str){d, dn};
    }
}

/* Unicode whitespace (\s of a str regex, str.isspace) at p[0:n]: its length, or 0. */
static int space_len(const unsigned char *p, Py_ssize_t n) {
    unsigned c = p[0];
    if (c < 0x80)
        return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
    if (c == 0xc2 && n >= 2)
        return (p[1] == 0x85 || p[1] == 0xa0) ? 2 : 0;
    if (n < 3)
        return 0;
    if (c == 0xe1)
        return (p[1] == 0x9a && p[2] == 0x80) ? 3 : 0; /* U+1680 */
    if (c == 0xe2 && p[1] == 0x80) /* U+2000..200A, 2028, 2029, 202F */
        return (p[2] <= 0x8a && p[2] >= 0x80) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf
                   ? 3
                   : 0;
    if (c == 0xe2 && p[1] == 0x81)
        return p[2] == 0x9f ? 3 : 0; /* U+205F */
    if (c == 0xe3)
        return (p[1] == 0x80 && p[2] == 0x80) ? 3 : 0; /* U+3000 */
    return 0;
}

/* join._session(response): r"<[^>]*> (\S+) Saved", group 1.  [^>]* cannot pass a
 * ">", so from each "<" the only candidate is the first ">" after it; \S+ cannot
 * hold the space before "Saved", so it is the whole run of non-space after "> ". */
int join_session(fl_str resp, fl_str *session) {
    const unsigned char *p = (const unsigned char *)resp.p;
    Py_ssize_t n = resp.n, i = 0;
    while (i < n) {
        if (p[i] != '<') {
            i++;
            continue;
        }
        Py_ssize_t g = i + 1;
        while (g < n && p[g] != '>')
            g++;
        if (g >= n)
            return 0; /* no ">" after this "<", nor after any later one */
        Py_ssize_t s = g + 2, k = s;
        if (g + 1 < n && p[g + 1] == ' ') {
            while (k < n && space_len(p + k, n - k) == 0)
                k++;
            if (k > s && n - k >= 6 && memcmp(p + k, " Saved", 6) == 0) {
                *session = (fl_str){resp.p + s, k - s};
                return 1;
            }
        }
        /* every "<" up to g leads to the same ">": go on after it */
        i = g + 1;
    }
    return 0;
}

/* -- sets of strings ------------------------------------------------------------------ */

int set_has(const otable *t, const char *p, Py_ssize_t n) { return ot_get(t, p, n) != NULL; }

int set_add(otable *t, const char *p, Py_ssize_t n) {
    uint64_t h = hash_bytes(p, n);
    if (ot_find(t, p, n, h) != NULL)
        return 0;
    return ot_append(t, p, n, h) ? 0 : -1;
}

/* -- the resolve cache --------------------------------------------------------------- */

static void jresolved_free(void *v) {
    jresolved *r = v;
    ostr_free(&r->lower);
    free(r);
}

void join_rcache_clear(Joiner *j) {
    if (j->rcache.free_val == NULL)
        j->rcache.free_val = jresolved_free;
    ot_clear(&j->rcache);
    j->rcache_bytes = 0;
}

/* record.Resolver.canonical(address) of a resolver holding the whole tree, from its
 * two dicts (tables = (users, canonical)): the lower-case address's account's own
 * address, or None.  A new reference, or NULL with an exception. */
static PyObject *canonical_of(PyObject *tables, PyObject *address) {
    PyObject *key = NULL;
    if (PyUnicode_IS_ASCII(address)) { /* str.lower() of ASCII changes A-Z only */
        const Py_UCS1 *c = PyUnicode_1BYTE_DATA(address);
        Py_ssize_t n = PyUnicode_GET_LENGTH(address), i = 0;
        while (i < n && !(c[i] >= 'A' && c[i] <= 'Z'))
            i++;
        if (i == n)
            key = Py_NewRef(address);
    }
    if (key == NULL && (key = PyObject_CallMethod(address, "lower", NULL)) == NULL)
        return NULL;
    PyObject *owner = PyDict_GetItemWithError(PyTuple_GET_ITEM(tables, 0), key);
    if (owner == NULL || owner == Py_None) {
        Py_DECREF(key);
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    PyObject *own = PyDict_GetItemWithError(PyTuple_GET_ITEM(tables, 1), key);
    if (own == NULL) {
        if (PyErr_Occurred())
            Py_CLEAR(key);
        return key;
    }
    Py_DECREF(key);
    return Py_NewRef(own);
}

/* resolve(address), cached: the address is the key.  *out is valid until the next call.
 * With resolve_tables, answered from them (canonical_of) instead of a call. */
int join_resolve(Joiner *j, const char *p, Py_ssize_t n, const jresolved **out) {
    uint64_t h = hash_bytes(p, n);
    onode *e = ot_find(&j->rcache, p, n, h);
    if (e != NULL) {
        *out = e->val;
        return 0;
    }
    PyObject *arg = jstr_py(p, n);
    if (arg == NULL)
        return -1;
    PyObject *canon;
    if (j->resolve_tables != NULL && PyUnicode_CheckExact(arg)) {
        PyObject *tables = Py_NewRef(j->resolve_tables);
        canon = canonical_of(tables, arg);
        Py_DECREF(tables);
    } else {
        canon = PyObject_CallOneArg(j->resolve, arg);
    }
    Py_DECREF(arg);
    if (canon == NULL)
        return -1; /* not cached: the next call asks again, as the reference would */
    jresolved *r = calloc(1, sizeof *r);
    int rc = 0;
    if (r == NULL) {
        PyErr_NoMemory();
        rc = -1;
    } else if (canon == Py_None) {
        r->kind = RC_NONE;
    } else if (PyUnicode_Check(canon)) {
        if (PyUnicode_GET_LENGTH(canon) == 0) {
            r->kind = RC_NONE;
        } else {
            Py_ssize_t cn;
            const char *cp = PyUnicode_AsUTF8AndSize(canon, &cn);
            PyObject *enc = NULL;
            if (cp == NULL) { /* lone surrogates */
                PyErr_Clear();
                enc = PyUnicode_AsEncodedString(canon, "utf-8", "surrogatepass");
                if (enc != NULL) {
                    cp = PyBytes_AS_STRING(enc);
                    cn = PyBytes_GET_SIZE(enc);
                }
            }
            tbuf lo;
            tb_init(&lo);
            if (cp == NULL || join_lower(cp, cn, &lo) < 0 || ostr_set(&r->lower, lo.p, lo.n) < 0)
                rc = -1;
            tb_free(&lo);
            Py_XDECREF(enc);
            r->kind = RC_STR;
        }
    } else {
        int truth = PyObject_IsTrue(canon);
        if (truth < 0)
            rc = -1;
        r->kind = truth > 0 ? RC_OTHER : RC_NONE;
    }
    Py_DECREF(canon);
    if (rc < 0) {
        if (r)
            jresolved_free(r);
        return -1;
    }
    if (j->rcache.n >= J_RCACHE_MAX || j->rcache_bytes >= J_RCACHE_BYTES)
        join_rcache_clear(j);
    e = ot_append(&j->rcache, p, n, h);
    if (e == NULL) {
        jresolved_free(r);
        return -1;
    }
    e->val = r;
    j->rcache_bytes += (size_t)n + (size_t)ostr_len(&r->lower);
    *out = r;
    return 0;
}

/* -- hosts ----------------------------------------------------------------------------- */

int join_set_host_new(Joiner *j, fl_str host) {
    static const char empty[1] = "";
    if (host.p == NULL)
        host = (fl_str){empty, 0};
    j->host = host;
    j->khost = (fl_str){empty, 0};
    if (host.n > 0 && !bytes_eq(j->first_host.p ? j->first_host.p : empty,
                                ostr_len(&j->first_host), host.p, host.n)) {
        if (ostr_len(&j->first_host) == 0)
            return ostr_set(&j->first_host, host.p, host.n);
        j->khost = host;
    }
    return 0;
}

int join_hkey(fl_str host, fl_str ident, tbuf *out, fl_str *key) {
    if (host.n == 0 || ident.p == NULL || ident.n == 0) {
        *key = ident;
        return 0;
    }
    char *d = tb_reserve(out, host.n + 1 + ident.n);
    if (d == NULL)
        return -1;
    memcpy(d, host.p, (size_t)host.n);
    d[host.n] = '\n';
    memcpy(d + host.n + 1, ident.p, (size_t)ident.n);
    out->n = host.n + 1 + ident.n;
    *key = (fl_str){out->p, out->n};
    return 0;
}

int join_hk(const Joiner *j, fl_str host, fl_str ident, tbuf *out, fl_str *key) {
    if (ostr_eq(&j->first_host, host.p, host.n))
        host.n = 0;
    return join_hkey(host, ident, out, key);
}

int join_beside(const char *k, Py_ssize_t kn, const char *ident, Py_ssize_t n, tbuf *out) {
    const char *nl = kn ? memchr(k, '\n', (size_t)kn) : NULL;
    if (nl == NULL) { /* a bare key: ident itself, without a copy */
        out->p = (char *)ident;
        out->n = n;
        return 0;
    }
    Py_ssize_t pre = nl ? nl - k + 1 : 0;
    char *d = tb_reserve(out, pre + n);
    if (d == NULL)
        return -1;
    if (pre)
        memcpy(d, k, (size_t)pre);
    if (n)
        memcpy(d + pre, ident, (size_t)n);
    out->n = pre + n;
    return 0;
}
