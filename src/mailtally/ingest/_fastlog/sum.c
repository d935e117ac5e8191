/* sum_events(): events of one kind, address and day, summed into one event.
 *
 * A log batch holds ~150,000 events for a few thousand (account, day) pairs;
 * record_events spends microseconds of Python on each.  Summed first, it sees
 * one event per (kind, address, day, spam verdict or login service) whose
 * `count` is the number of events, with sizes and recipients added up and
 * `time` the latest — all that record_events reads of them (each flow adds
 * `count`, or the size; each last_* time is a maximum), so the counts are the
 * same (tests/test_sum_events.py).
 *
 * The day is asked of day_of(time // 900) (Periods.bucket_keys), once per
 * quarter hour: every second of a quarter hour is in the same day, week and
 * month, except where an odd offset puts a midnight inside one — day_of says
 * None, and such an event passes unsummed.  Events of other types (storage
 * reports, API logins) pass as they are.  The output keeps the order of the
 * first event of each group.
 *
 * Speed is the point, so the events' fields are read straight from their slots
 * (they are slotted dataclasses) and groups live in a C hash table; if the
 * event classes ever stop being laid out that way, or a sum would pass int64,
 * the events pass unsummed.
 */
#include "fastlog.h"

#include <structmember.h>

enum { K_IN = 0, K_OUT, K_DENIED, K_LOGIN, K_FORWARD, K_AUTORESPOND, K_KINDS };

/* Each kind's class and the fields read: time, address, count, and its extras. */
static const char *const kind_names[K_KINDS] = {
    "MessageIn", "MessageOut", "MessageDenied", "Login", "Forward", "Autoresponse",
};
enum { F_TIME = 0, F_ADDRESS, F_COUNT, F_SIZE, F_RECIPIENTS, F_EXTRA, F_FIELDS };
static const char *const field_names[K_KINDS][F_FIELDS] = {
    {"time", "user", "count", "size", NULL, "spam"},
    {"time", "user", "count", "size", "recipients", NULL},
    {"time", "recipient", "count", NULL, NULL, NULL},
    {"time", "user", "count", NULL, NULL, "service"},
    {"time", "user", "count", NULL, NULL, NULL},
    {"time", "user", "count", NULL, NULL, NULL},
};

static PyTypeObject *classes[K_KINDS];
static Py_ssize_t offsets[K_KINDS][F_FIELDS]; /* -1: not a field of this kind */
static int layout; /* 0: not looked at yet, 1: slots as expected, -1: not */

/* The byte offset of a slot holding an object, or -1. */
static Py_ssize_t slot_offset(PyTypeObject *cls, const char *name) {
    PyObject *d = PyObject_GetAttrString((PyObject *)cls, name);
    if (d == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t off = -1;
    if (Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type == T_OBJECT_EX && !(m->flags & READONLY))
            off = m->offset;
    }
    Py_DECREF(d);
    return off;
}

static int load_layout(void) {
    if (layout != 0)
        return 0;
    PyObject *mod = PyImport_ImportModule("mailtally.events");
    if (mod == NULL)
        return -1;
    layout = 1;
    for (int k = 0; k < K_KINDS; k++) {
        PyObject *c = PyObject_GetAttrString(mod, kind_names[k]);
        if (c == NULL || !PyType_Check(c)) {
            Py_XDECREF(c);
            Py_DECREF(mod);
            return -1;
        }
        classes[k] = (PyTypeObject *)c; /* kept for the life of the process */
        for (int f = 0; f < F_FIELDS; f++) {
            offsets[k][f] = -1;
            if (field_names[k][f] != NULL) {
                offsets[k][f] = slot_offset(classes[k], field_names[k][f]);
                if (offsets[k][f] < 0)
                    layout = -1;
            }
        }
    }
    Py_DECREF(mod);
    return 0;
}

static inline PyObject *field(PyObject *ev, int kind, int f) {
    return *(PyObject **)((char *)ev + offsets[kind][f]);
}

/* An int field as int64; 0 if it is not an int that fits. */
static inline int int_field(PyObject *ev, int kind, int f, int64_t *out) {
    PyObject *v = field(ev, kind, f);
    if (v == NULL || !PyLong_Check(v))
        return 0;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = x;
    return 1;
}

/* -- quarter hours -> day ids ---------------------------------------------------- */

typedef struct {
    int64_t bucket;
    int day; /* -1: day_of said None; -2: empty slot */
} bucket_slot;

typedef struct {
    bucket_slot *slots;
    size_t mask;
    size_t used;
    PyObject *day_of;
    PyObject *ids; /* day_of's answer -> its id (a dict) */
} buckets;

static int buckets_grow(buckets *b) {
    size_t cap = (b->mask + 1) * 2;
    bucket_slot *s = PyMem_Malloc(cap * sizeof(bucket_slot));
    if (s == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < cap; i++)
        s[i].day = -2;
    for (size_t i = 0; i <= b->mask; i++) {
        if (b->slots[i].day == -2)
            continue;
        size_t j = (size_t)(b->slots[i].bucket * 0x9E3779B97F4A7C15ull) & (cap - 1);
        while (s[j].day != -2)
            j = (j + 1) & (cap - 1);
        s[j] = b->slots[i];
    }
    PyMem_Free(b->slots);
    b->slots = s;
    b->mask = cap - 1;
    return 0;
}

/* The day id of a quarter hour (-1: none); -2 with an exception. */
static int day_of_bucket(buckets *b, int64_t bucket) {
    size_t j = (size_t)(bucket * 0x9E3779B97F4A7C15ull) & b->mask;
    while (b->slots[j].day != -2) {
        if (b->slots[j].bucket == bucket)
            return b->slots[j].day;
        j = (j + 1) & b->mask;
    }
    PyObject *arg = PyLong_FromLongLong(bucket);
    if (arg == NULL)
        return -2;
    PyObject *keys = PyObject_CallOneArg(b->day_of, arg);
    Py_DECREF(arg);
    if (keys == NULL)
        return -2;
    int day = -1;
    if (keys != Py_None) {
        PyObject *id = PyDict_GetItemWithError(b->ids, keys);
        if (id != NULL) {
            day = (int)PyLong_AsLong(id);
        } else if (!PyErr_Occurred()) {
            day = (int)PyDict_GET_SIZE(b->ids);
            id = PyLong_FromLong(day);
            if (id == NULL || PyDict_SetItem(b->ids, keys, id) < 0)
                day = -2;
            Py_XDECREF(id);
        } else {
            day = -2;
        }
    }
    Py_DECREF(keys);
    if (day == -2)
        return -2;
    b->slots[j].bucket = bucket;
    b->slots[j].day = day;
    if (++b->used * 2 > b->mask && buckets_grow(b) < 0)
        return -2;
    return day;
}

/* -- groups ----------------------------------------------------------------------------- */

typedef struct {
    PyObject *first; /* borrowed from the input list; NULL: an empty table slot */
    PyObject *address, *extra; /* borrowed: fields of `first` */
    Py_hash_t hash;
    int kind, day;
    int64_t n, count, size, recipients, time;
} group;

static inline Py_hash_t mix(Py_hash_t h, int64_t v) {
    return (Py_hash_t)(((uint64_t)h ^ (uint64_t)v) * 0x100000001B3ull);
}

static int same_group(const group *g, int kind, int day, PyObject *address, PyObject *extra,
                      Py_hash_t hash) {
    if (g->hash != hash || g->kind != kind || g->day != day)
        return 0;
    if (g->extra != extra && PyObject_RichCompareBool(g->extra, extra, Py_EQ) != 1)
        return 0;
    return g->address == address || PyUnicode_Compare(g->address, address) == 0;
}

/* The group as one event: its first event when alone, else a new one (built as
 * the joiner builds its events: straight into the slots, ~0.5 µs less than calling
 * the class; the same object). */
static PyObject *group_event(const group *g) {
    if (g->n == 1)
        return Py_NewRef(g->first);
    PyObject *cls = (PyObject *)classes[g->kind];
    /* fl_new_event steals each reference, and fails on a NULL one (no memory) */
    PyObject *t = PyLong_FromLongLong(g->time), *c = PyLong_FromLongLong(g->count);
    PyObject *a = Py_NewRef(g->address);
    switch (g->kind) {
    case K_IN: {
        PyObject *args[5] = {t, a, PyLong_FromLongLong(g->size), Py_NewRef(g->extra), c};
        return fl_new_event(cls, args, 5);
    }
    case K_OUT: {
        PyObject *args[5] = {t, a, PyLong_FromLongLong(g->recipients),
                             PyLong_FromLongLong(g->size), c};
        return fl_new_event(cls, args, 5);
    }
    case K_LOGIN: {
        PyObject *args[4] = {t, a, Py_NewRef(g->extra), c};
        return fl_new_event(cls, args, 4);
    }
    default: { /* MessageDenied, Forward, Autoresponse: (time, address, count) */
        PyObject *args[3] = {t, a, c};
        return fl_new_event(cls, args, 3);
    }
    }
}

/* Double the table; the slots named in pos[0..n) move with their groups. */
static int grow(group **table, size_t *cap, Py_ssize_t *pos, Py_ssize_t n) {
    size_t ncap = *cap * 2;
    group *t = PyMem_Calloc(ncap, sizeof(group));
    if (t == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (pos[i] < 0)
            continue;
        group *g = &(*table)[pos[i]];
        size_t j = (size_t)g->hash & (ncap - 1);
        while (t[j].first != NULL)
            j = (j + 1) & (ncap - 1);
        t[j] = *g;
        pos[i] = (Py_ssize_t)j;
    }
    PyMem_Free(*table);
    *table = t;
    *cap = ncap;
    return 0;
}

PyDoc_STRVAR(sum_events_doc,
"sum_events(events, day_of) -> list\n\n"
"Events of one kind, address and day (and spam verdict, or login service)\n"
"summed into one event whose count is theirs; others unchanged.  ``day_of(b)``\n"
"names the period keys of quarter hour ``b`` (``time // 900``), or None.");

static PyObject *sum_events(PyObject *self, PyObject *args) {
    PyObject *events, *day_of;
    if (!PyArg_ParseTuple(args, "O!O:sum_events", &PyList_Type, &events, &day_of))
        return NULL;
    if (load_layout() < 0)
        return NULL;
    if (layout < 0 || PyList_GET_SIZE(events) == 0) /* not summable here, or nothing */
        return PyList_GetSlice(events, 0, PyList_GET_SIZE(events));
    /* the events as they are now, held: day_of and the fields' __eq__ may run
     * any Python, which could change the list */
    PyObject *held = PyList_AsTuple(events);
    if (held == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(held);
    int overflow = 0;

    /* pos[i]: what the output has at input i: -1 the event itself (unsummed),
     * j >= 0 the group in table slot j (its first event), -2 nothing (a later
     * event of a group); the table grows to stay at most half full */
    size_t cap = 1024, groups = 0;
    group *table = PyMem_Calloc(cap, sizeof(group));
    Py_ssize_t *pos = PyMem_Malloc((size_t)n * sizeof(Py_ssize_t));
    buckets b = {PyMem_Malloc(64 * sizeof(bucket_slot)), 63, 0, day_of, PyDict_New()};
    PyObject *out = NULL;
    if (table == NULL || pos == NULL || b.slots == NULL || b.ids == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (int i = 0; i < 64; i++)
        b.slots[i].day = -2;

    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ev = PyTuple_GET_ITEM(held, i);
        int kind = -1;
        for (int k = 0; k < K_KINDS; k++)
            if (Py_TYPE(ev) == classes[k])
                kind = k;
        int64_t t = 0, count = 0, size = 0, rcpts = 0;
        PyObject *address = NULL, *extra = Py_None;
        int day = -1;
        if (kind >= 0 && int_field(ev, kind, F_TIME, &t) && int_field(ev, kind, F_COUNT, &count)) {
            address = field(ev, kind, F_ADDRESS);
            if (offsets[kind][F_EXTRA] >= 0)
                extra = field(ev, kind, F_EXTRA);
            int ok = address != NULL && PyUnicode_CheckExact(address) && extra != NULL &&
                     (offsets[kind][F_SIZE] < 0 || int_field(ev, kind, F_SIZE, &size)) &&
                     (offsets[kind][F_RECIPIENTS] < 0 ||
                      int_field(ev, kind, F_RECIPIENTS, &rcpts));
            if (ok) {
                /* floor division, as Python's // (times before 1970 are negative) */
                int64_t bucket = t / 900 - (t % 900 < 0);
                day = day_of_bucket(&b, bucket);
                if (day == -2)
                    goto done;
            }
        }
        if (day < 0) {
            pos[i] = -1;
            continue;
        }
        Py_hash_t h = PyObject_Hash(address);
        Py_hash_t eh = extra == Py_None ? 0 : PyObject_Hash(extra);
        if (h == -1 || eh == -1)
            goto done;
        h = mix(mix(mix(h, eh), kind), day);
        for (size_t j = (size_t)h & (cap - 1);; j = (j + 1) & (cap - 1)) {
            group *g = &table[j];
            if (g->first == NULL) { /* a new group */
                *g = (group){ev, address, extra, h, kind, day, 1, count, size, rcpts, t};
                pos[i] = (Py_ssize_t)j;
                if (++groups * 2 > cap && grow(&table, &cap, pos, i + 1) < 0)
                    goto done;
                break;
            }
            if (same_group(g, kind, day, address, extra, h)) {
                g->n++;
                /* (never with events of a log, whose numbers are bounded by
                 * events.MAX_*: then nothing is summed) */
                overflow |= __builtin_add_overflow(g->count, count, &g->count);
                overflow |= __builtin_add_overflow(g->size, size, &g->size);
                overflow |= __builtin_add_overflow(g->recipients, rcpts, &g->recipients);
                if (t > g->time)
                    g->time = t;
                pos[i] = -2;
                break;
            }
            if (PyErr_Occurred()) /* a comparison failed */
                goto done;
        }
    }
    if (overflow) { /* sums past int64: the events as they came */
        out = PySequence_List(held);
        goto done;
    }
    out = PyList_New(0);
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (pos[i] == -2)
            continue;
        PyObject *ev = pos[i] == -1 ? Py_NewRef(PyTuple_GET_ITEM(held, i))
                                    : group_event(&table[pos[i]]);
        if (ev == NULL || PyList_Append(out, ev) < 0) {
            Py_XDECREF(ev);
            Py_CLEAR(out);
            goto done;
        }
        Py_DECREF(ev);
    }
done:
    PyMem_Free(table);
    PyMem_Free(pos);
    Py_DECREF(held);
    PyMem_Free(b.slots);
    Py_XDECREF(b.ids);
    return out;
}

/* -- tally_events(): the C twin of record._tally_events ----------------------------- */

/* The cell columns tally_events adds to, in the order record._TALLY_COLUMNS names them. */
enum {
    C_IN_HAM = 0, C_IN_SIZE, C_IN_SPAM, C_DENIED, C_OUT_MSG, C_OUT_RCPT, C_OUT_SIZE,
    C_FORWARD, C_AUTORESPOND, C_LOGIN_IMAP4, C_LOGIN_POP3, C_LOGIN_WEBMAIL,
    C_LAST_IN, C_LAST_RELAY, C_LAST_IMAP4, C_LAST_POP3, C_LAST_WEBMAIL, C_COLUMNS
};
static const char *const services[3] = {"imap4", "pop3", "webmail"};

/* cell[i] += v (a new reference in the slot); 0, or -1 with an exception */
static int cell_add(PyObject *cell, Py_ssize_t i, PyObject *v) {
    PyObject *old = PyList_GET_ITEM(cell, i);
    PyObject *sum = PyNumber_Add(old, v);
    if (sum == NULL)
        return -1;
    PyList_SET_ITEM(cell, i, sum);
    Py_DECREF(old);
    return 0;
}

/* cell[i] = max(cell[i], t) */
static int cell_latest(PyObject *cell, Py_ssize_t i, PyObject *t) {
    PyObject *old = PyList_GET_ITEM(cell, i);
    int later = PyObject_RichCompareBool(t, old, Py_GT);
    if (later <= 0)
        return later;
    PyList_SET_ITEM(cell, i, Py_NewRef(t));
    Py_DECREF(old);
    return 0;
}

PyDoc_STRVAR(tally_events_doc,
"tally_events(events, known, cells, keys_by_bucket, bucket_keys, columns, width)\n"
"    -> (counted, rest)\n\n"
"record._tally_events for the events it can count without Python: messages in,\n"
"out and denied, logins, forwards and auto-responses (exactly those classes) whose\n"
"address ``known`` maps to an owner and whose quarter hour ``bucket_keys`` names.\n"
"Each is added to ``cells[(owner, keys)]`` (a new cell: ``width`` zeros) at the\n"
"indices ``columns`` names; ``keys_by_bucket`` remembers bucket_keys' answers.\n"
"``counted``: the counts added; ``rest``: the other events, in their order.");

static PyObject *tally_events(PyObject *self, PyObject *args) {
    PyObject *events, *known, *cells, *by_bucket, *bucket_keys, *columns;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "O!O!O!O!OO!n:tally_events", &PyList_Type, &events,
                          &PyDict_Type, &known, &PyDict_Type, &cells, &PyDict_Type, &by_bucket,
                          &bucket_keys, &PyTuple_Type, &columns, &width))
        return NULL;
    if (load_layout() < 0)
        return NULL;
    Py_ssize_t col[C_COLUMNS];
    if (PyTuple_GET_SIZE(columns) != C_COLUMNS) {
        PyErr_SetString(PyExc_ValueError, "tally_events: wrong number of columns");
        return NULL;
    }
    for (int c = 0; c < C_COLUMNS; c++) {
        col[c] = PyLong_AsSsize_t(PyTuple_GET_ITEM(columns, c));
        if (col[c] == -1 && PyErr_Occurred())
            return NULL;
        if (col[c] < 0 || col[c] >= width) {
            PyErr_SetString(PyExc_ValueError, "tally_events: a column outside the cell");
            return NULL;
        }
    }
    PyObject *held = PyList_AsTuple(events); /* any Python below may change the list */
    PyObject *rest = PyList_New(0), *counted = PyLong_FromLong(0), *zero = PyLong_FromLong(0);
    PyObject *last_keys = NULL, *out = NULL; /* last_keys: those of last_bucket */
    PyObject *held_owner = NULL;
    int64_t last_bucket = 0;
    if (held == NULL || rest == NULL || counted == NULL || zero == NULL)
        goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(held);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ev = PyTuple_GET_ITEM(held, i);
        int kind = -1;
        if (layout > 0)
            for (int k = 0; k < K_KINDS; k++)
                if (Py_TYPE(ev) == classes[k])
                    kind = k;
        /* everything that decides whether the event is counted here comes first:
         * an event sent to `rest` must leave the cells as they were */
        PyObject *t = kind < 0 ? NULL : field(ev, kind, F_TIME);
        PyObject *count = kind < 0 ? NULL : field(ev, kind, F_COUNT);
        PyObject *address = kind < 0 ? NULL : field(ev, kind, F_ADDRESS);
        PyObject *size = kind < 0 || offsets[kind][F_SIZE] < 0 ? NULL : field(ev, kind, F_SIZE);
        PyObject *rcpts =
            kind < 0 || offsets[kind][F_RECIPIENTS] < 0 ? NULL : field(ev, kind, F_RECIPIENTS);
        PyObject *extra = kind < 0 || offsets[kind][F_EXTRA] < 0 ? NULL : field(ev, kind, F_EXTRA);
        int ok = kind >= 0 && t != NULL && PyLong_CheckExact(t) && count != NULL &&
                 PyLong_CheckExact(count) && address != NULL && PyUnicode_CheckExact(address) &&
                 (offsets[kind][F_SIZE] < 0 || (size != NULL && PyLong_CheckExact(size))) &&
                 (offsets[kind][F_RECIPIENTS] < 0 || (rcpts != NULL && PyLong_CheckExact(rcpts))) &&
                 (offsets[kind][F_EXTRA] < 0 || extra != NULL);
        int service = -1;
        if (ok && kind == K_LOGIN) {
            for (int s = 0; s < 3; s++)
                if (PyUnicode_CheckExact(extra) && PyUnicode_CompareWithASCIIString(extra, services[s]) == 0)
                    service = s;
            ok = service >= 0;
        }
        int spam = 0;
        if (ok && kind == K_IN && (spam = PyObject_IsTrue(extra)) < 0)
            goto done;
        int64_t ts = 0;
        if (ok) {
            int overflow = 0;
            ts = PyLong_AsLongLongAndOverflow(t, &overflow);
            ok = !overflow && !(ts == -1 && PyErr_Occurred());
            PyErr_Clear();
        }
        PyObject *owner = NULL, *keys = NULL;
        if (ok) {
            owner = PyDict_GetItemWithError(known, address);
            if (owner == NULL && PyErr_Occurred())
                goto done;
            ok = owner != NULL && owner != Py_None;
            /* held: bucket_keys below may run any Python */
            Py_XSETREF(held_owner, ok ? Py_NewRef(owner) : NULL);
        }
        if (ok) {
            /* floor division, as Python's // */
            int64_t bucket = ts / 900 - (ts % 900 < 0);
            if (last_keys != NULL && bucket == last_bucket) {
                keys = last_keys;
            } else {
                PyObject *b = PyLong_FromLongLong(bucket);
                if (b == NULL)
                    goto done;
                keys = PyDict_GetItemWithError(by_bucket, b);
                if (keys == NULL && !PyErr_Occurred()) {
                    PyObject *k = PyObject_CallOneArg(bucket_keys, b);
                    if (k != NULL && k != Py_None && PyDict_SetItem(by_bucket, b, k) < 0)
                        Py_CLEAR(k);
                    if (k == NULL) {
                        Py_DECREF(b);
                        goto done;
                    }
                    /* (the dict holds it; None: a quarter hour with a midnight, for Python) */
                    keys = k == Py_None ? NULL : k;
                    Py_DECREF(k);
                    if (keys == NULL)
                        ok = 0;
                }
                Py_DECREF(b);
                if (PyErr_Occurred())
                    goto done;
                Py_XSETREF(last_keys, Py_XNewRef(keys));
                last_bucket = bucket;
            }
        }
        if (!ok) {
            if (PyList_Append(rest, ev) < 0)
                goto done;
            continue;
        }
        PyObject *key = PyTuple_Pack(2, owner, keys);
        if (key == NULL)
            goto done;
        PyObject *cell = PyDict_GetItemWithError(cells, key);
        if (cell == NULL) {
            if (PyErr_Occurred() || (cell = PyList_New(width)) == NULL) {
                Py_DECREF(key);
                goto done;
            }
            for (Py_ssize_t c = 0; c < width; c++)
                PyList_SET_ITEM(cell, c, Py_NewRef(zero));
            int rc = PyDict_SetItem(cells, key, cell);
            Py_DECREF(cell); /* held by cells */
            if (rc < 0) {
                Py_DECREF(key);
                goto done;
            }
        }
        Py_DECREF(key);
        if (!PyList_CheckExact(cell) || PyList_GET_SIZE(cell) != width) {
            PyErr_SetString(PyExc_TypeError, "tally_events: a cell that is not a list of width");
            goto done;
        }
        int rc = 0;
        switch (kind) {
        case K_IN:
            if (spam) {
                rc = cell_add(cell, col[C_IN_SPAM], count);
            } else {
                rc = cell_add(cell, col[C_IN_HAM], count) < 0 ? -1 : cell_add(cell, col[C_IN_SIZE], size);
            }
            if (rc == 0)
                rc = cell_latest(cell, col[C_LAST_IN], t);
            break;
        case K_OUT:
            rc = cell_add(cell, col[C_OUT_MSG], count) < 0 || cell_add(cell, col[C_OUT_RCPT], rcpts) < 0 ||
                         cell_add(cell, col[C_OUT_SIZE], size) < 0
                     ? -1
                     : cell_latest(cell, col[C_LAST_RELAY], t);
            break;
        case K_DENIED:
            rc = cell_add(cell, col[C_DENIED], count);
            break;
        case K_LOGIN:
            rc = cell_add(cell, col[C_LOGIN_IMAP4 + service], count) < 0
                     ? -1
                     : cell_latest(cell, col[C_LAST_IMAP4 + service], t);
            break;
        case K_FORWARD:
            rc = cell_add(cell, col[C_FORWARD], count);
            break;
        default: /* K_AUTORESPOND */
            rc = cell_add(cell, col[C_AUTORESPOND], count);
            break;
        }
        if (rc < 0)
            goto done;
        PyObject *sum = PyNumber_Add(counted, count);
        if (sum == NULL)
            goto done;
        Py_SETREF(counted, sum);
    }
    out = PyTuple_Pack(2, counted, rest);
done:
    Py_XDECREF(held);
    Py_XDECREF(rest);
    Py_XDECREF(counted);
    Py_XDECREF(zero);
    Py_XDECREF(last_keys);
    Py_XDECREF(held_owner);
    return out;
}

static PyMethodDef sum_methods[] = {
    {"sum_events", sum_events, METH_VARARGS, sum_events_doc},
    {"tally_events", tally_events, METH_VARARGS, tally_events_doc},
    {NULL, NULL, 0, NULL},
};

int fl_sum_init(PyObject *module) {
    return PyModule_AddFunctions(module, sum_methods);
}
