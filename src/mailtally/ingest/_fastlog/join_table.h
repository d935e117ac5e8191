/* Containers of join.c (the C twin of mailtally.ingest.join): owned strings, a
 * string-keyed hash table that keeps insertion order like Python's OrderedDict
 * (and dict: a plain dict also iterates in insertion order), and Python ints
 * that may not fit in int64.
 *
 * Only the join*.c files include this header (through join.h); everything is static.
 */
#ifndef MAILTALLY_FASTLOG_JOIN_TABLE_H
#define MAILTALLY_FASTLOG_JOIN_TABLE_H

#include "fastlog.h"
#include <stdlib.h>
#include <string.h>

/* -- strings ------------------------------------------------------------------------- */

/* A string the joiner owns (a copy: record slices die with their line).  UTF-8 (with
 * surrogates encoded as by Python's "surrogatepass"), NUL-terminated for convenience
 * but length-counted (keys hold "\0" separators).  p == NULL is None. */
typedef struct {
    char *p;
    Py_ssize_t n;
} ostr;

static inline void ostr_free(ostr *o) {
    free(o->p);
    o->p = NULL;
    o->n = 0;
}

/* *o = a copy of p[0:n] (p == NULL: None).  0, or -1 with MemoryError. */
static inline int ostr_set(ostr *o, const char *p, Py_ssize_t n) {
    char *c = NULL;
    if (p != NULL) {
        c = malloc((size_t)n + 1);
        if (c == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(c, p, (size_t)n);
        c[n] = 0;
    }
    free(o->p);
    o->p = c;
    o->n = p ? n : 0;
    return 0;
}

static inline int bytes_eq(const char *a, Py_ssize_t an, const char *b, Py_ssize_t bn) {
    return an == bn && (an == 0 || memcmp(a, b, (size_t)an) == 0);
}

static inline int ostr_eq(const ostr *o, const char *p, Py_ssize_t n) {
    if (o->p == NULL || p == NULL)
        return o->p == NULL && p == NULL;
    return bytes_eq(o->p, o->n, p, n);
}

/* A temporary string (a key being looked up, an address being credited): on the
 * stack when short, on the heap when not.  Never copy a tbuf struct. */
typedef struct {
    char *p;
    Py_ssize_t n;
    char *heap;
    char sm[128];
} tbuf;

static inline void tb_init(tbuf *b) {
    b->p = b->sm;
    b->n = 0;
    b->heap = NULL;
}

static inline void tb_free(tbuf *b) {
    free(b->heap);
    b->heap = NULL;
    b->p = b->sm;
    b->n = 0;
}

/* Room for n bytes (contents undefined); NULL with MemoryError. */
static inline char *tb_reserve(tbuf *b, Py_ssize_t n) {
    if (n <= (Py_ssize_t)sizeof b->sm) {
        b->p = b->sm;
        return b->p;
    }
    char *h = malloc((size_t)n);
    if (h == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    free(b->heap);
    b->heap = h;
    b->p = h;
    return h;
}

static inline int tb_set(tbuf *b, const char *p, Py_ssize_t n) {
    char *d = tb_reserve(b, n);
    if (d == NULL)
        return -1;
    if (n)
        memcpy(d, p, (size_t)n);
    b->n = n;
    return 0;
}

/* The tables' hash: SipHash-1-3 (the one CPython uses for str) keyed with 128
 * random bits drawn once per process at module init (join.c).  An unkeyed hash
 * lets anyone who writes a Message-ID or an address into the log (a remote
 * sender, `logger`) precompute keys that all fall into one chain, and turns every
 * lookup into a walk of the whole table.  Nothing saved depends on the key: the
 * tables iterate in insertion order, and the hash itself is never stored. */
extern uint64_t fl_hash_k0, fl_hash_k1;

#define FL_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define FL_SIPROUND                                                                        \
    do {                                                                                   \
        v0 += v1;                                                                          \
        v1 = FL_ROTL(v1, 13);                                                              \
        v1 ^= v0;                                                                          \
        v0 = FL_ROTL(v0, 32);                                                              \
        v2 += v3;                                                                          \
        v3 = FL_ROTL(v3, 16);                                                              \
        v3 ^= v2;                                                                          \
        v0 += v3;                                                                          \
        v3 = FL_ROTL(v3, 21);                                                              \
        v3 ^= v0;                                                                          \
        v2 += v1;                                                                          \
        v1 = FL_ROTL(v1, 17);                                                              \
        v1 ^= v2;                                                                          \
        v2 = FL_ROTL(v2, 32);                                                              \
    } while (0)

static inline uint64_t hash_bytes(const char *p, Py_ssize_t n) {
    uint64_t v0 = fl_hash_k0 ^ 0x736f6d6570736575ull;
    uint64_t v1 = fl_hash_k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = fl_hash_k0 ^ 0x6c7967656e657261ull;
    uint64_t v3 = fl_hash_k1 ^ 0x7465646279746573ull;
    uint64_t b = (uint64_t)n << 56;
    while (n >= 8) {
        uint64_t m;
        memcpy(&m, p, 8); /* little-endian hosts; on others the hash differs, still keyed */
        v3 ^= m;
        FL_SIPROUND;
        v0 ^= m;
        p += 8;
        n -= 8;
    }
    uint64_t t = 0;
    if (n)
        memcpy(&t, p, (size_t)n);
    b |= t;
    v3 ^= b;
    FL_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    FL_SIPROUND;
    FL_SIPROUND;
    FL_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* -- ints ----------------------------------------------------------------------------- */

/* A Python int that is None, an int64, or (rarely: a quota row of 20 digits, a record
 * built by hand) a bigger int kept as the Python object itself, so that the events
 * and the state carry the very value the reference would. */
typedef struct {
    int has;       /* 0: None */
    int64_t v;     /* when big == NULL */
    PyObject *big; /* owned; an int outside int64 */
} jint;

static inline void jint_clear(jint *x) {
    Py_CLEAR(x->big);
    x->has = 0;
    x->v = 0;
}

static inline void jint_set_i(jint *x, int64_t v) {
    Py_CLEAR(x->big);
    x->has = 1;
    x->v = v;
}

/* -1 if negative, 0 if zero, 1 if positive */
static inline int jint_sign(const jint *x) {
    if (x->big != NULL) {
        /* a big int is never zero; its sign: compare with 0 */
        return _PyLong_Sign(x->big);
    }
    return x->v < 0 ? -1 : x->v > 0;
}

/* *dst = *src (None included) */
static inline void jint_copy(jint *dst, const jint *src) {
    Py_XINCREF(src->big);
    Py_XSETREF(dst->big, src->big);
    dst->has = src->has;
    dst->v = src->v;
}

/* max(0, x) of a non-None x */
static inline void jint_max0(jint *dst, const jint *src) {
    if (jint_sign(src) < 0)
        jint_set_i(dst, 0);
    else
        jint_copy(dst, src);
}

/* The Python value: None, an int (new reference). */
static inline PyObject *jint_py(const jint *x) {
    if (!x->has)
        Py_RETURN_NONE;
    if (x->big != NULL)
        return Py_NewRef(x->big);
    return PyLong_FromLongLong(x->v);
}

/* From a Python int (or None if none_ok).  0, or -1 with an exception. */
static inline int jint_from_py(jint *x, PyObject *o, int none_ok) {
    if (o == Py_None && none_ok) {
        jint_clear(x);
        return 0;
    }
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "an int is required, not %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow) {
        PyObject *b = PyNumber_Index(o); /* an exact int, not a subclass such as bool */
        if (b == NULL)
            return -1;
        Py_XSETREF(x->big, b);
        x->has = 1;
        x->v = 0;
        return 0;
    }
    jint_set_i(x, v);
    return 0;
}

/* -- ordered table ---------------------------------------------------------------------- */

/* One entry: key, order links, and the value fields the tables need (a table uses
 * some of t / flag / val; free_val frees val). */
typedef struct onode {
    struct onode *hnext;      /* hash chain */
    struct onode *prev, *next; /* insertion order (OrderedDict's) */
    uint64_t hash;
    int64_t t;
    int flag;
    void *val;
    Py_ssize_t klen;
    char key[]; /* klen bytes + NUL */
} onode;

typedef struct {
    onode **b;
    size_t mask; /* buckets - 1 */
    size_t n;
    onode *head, *tail;
    void (*free_val)(void *);
    /* join._Table.size: the bytes of the keys, plus val_bytes of each value removed
     * with its node (the callers add a value's bytes themselves) */
    size_t bytes;
    size_t (*val_bytes)(const void *);
} otable;

/* An empty table.  The buckets are allocated by the first insertion: a message has
 * four small tables (locals, fwds, bounced, relays), most of them stay empty. */
static inline void ot_init(otable *t, void (*free_val)(void *)) {
    t->b = NULL;
    t->mask = 0;
    t->n = 0;
    t->head = t->tail = NULL;
    t->free_val = free_val;
    t->bytes = 0;
    t->val_bytes = NULL;
}

static inline onode *ot_find(const otable *t, const char *k, Py_ssize_t n, uint64_t h) {
    if (t->b == NULL)
        return NULL;
    for (onode *e = t->b[h & t->mask]; e != NULL; e = e->hnext)
        if (e->hash == h && bytes_eq(e->key, e->klen, k, n))
            return e;
    return NULL;
}

static inline onode *ot_get(const otable *t, const char *k, Py_ssize_t n) {
    if (t->n == 0)
        return NULL;
    return ot_find(t, k, n, hash_bytes(k, n));
}

static inline void ot_grow(otable *t) {
    size_t nm = (t->mask + 1) * 2 - 1;
    onode **nb = calloc(nm + 1, sizeof(onode *));
    if (nb == NULL)
        return; /* keep the longer chains: still correct */
    for (onode *e = t->head; e != NULL; e = e->next) {
        e->hnext = nb[e->hash & nm];
        nb[e->hash & nm] = e;
    }
    free(t->b);
    t->b = nb;
    t->mask = nm;
}

/* A new entry at the end (the key must be absent); NULL with MemoryError. */
static inline onode *ot_append(otable *t, const char *k, Py_ssize_t n, uint64_t h) {
    if (t->b == NULL) {
        t->b = calloc(8, sizeof(onode *));
        if (t->b == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        t->mask = 7;
    }
    onode *e = malloc(sizeof(onode) + (size_t)n + 1);
    if (e == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    e->hash = h;
    e->t = 0;
    e->flag = 0;
    e->val = NULL;
    e->klen = n;
    if (n)
        memcpy(e->key, k, (size_t)n);
    e->key[n] = 0;
    e->hnext = t->b[h & t->mask];
    t->b[h & t->mask] = e;
    e->next = NULL;
    e->prev = t->tail;
    if (t->tail)
        t->tail->next = e;
    else
        t->head = e;
    t->tail = e;
    t->n++;
    t->bytes += (size_t)n;
    if (t->n > t->mask + 1)
        ot_grow(t);
    return e;
}

/* OrderedDict.move_to_end */
static inline void ot_move_to_end(otable *t, onode *e) {
    if (t->tail == e)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        t->head = e->next;
    e->next->prev = e->prev;
    e->prev = t->tail;
    e->next = NULL;
    t->tail->next = e;
    t->tail = e;
}

/* Remove e from the table without freeing it. */
static inline void ot_unlink(otable *t, onode *e) {
    onode **pp = &t->b[e->hash & t->mask];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
    t->n--;
    t->bytes -= (size_t)e->klen + (e->val != NULL && t->val_bytes != NULL ? t->val_bytes(e->val) : 0);
}

static inline void ot_free_node(otable *t, onode *e) {
    if (e->val != NULL && t->free_val != NULL)
        t->free_val(e->val);
    free(e);
}

static inline void ot_del(otable *t, onode *e) {
    ot_unlink(t, e);
    ot_free_node(t, e);
}

static inline void ot_clear(otable *t) {
    if (t->b == NULL)
        return;
    onode *e = t->head;
    while (e != NULL) {
        onode *nx = e->next;
        ot_free_node(t, e);
        e = nx;
    }
    memset(t->b, 0, (t->mask + 1) * sizeof(onode *));
    t->n = 0;
    t->bytes = 0;
    t->head = t->tail = NULL;
}

static inline void ot_dealloc(otable *t) {
    if (t->b == NULL)
        return;
    ot_clear(t);
    free(t->b);
    t->b = NULL;
}

#endif
