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

static PyMethodDef sum_methods[] = {
    {"sum_events", sum_events, METH_VARARGS, sum_events_doc},
    {NULL, NULL, 0, NULL},
};

int fl_sum_init(PyObject *module) {
    return PyModule_AddFunctions(module, sum_methods);
}
