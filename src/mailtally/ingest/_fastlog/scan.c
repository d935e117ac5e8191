/* scan(): the hot loop of `mailtally ingest`, in C.
 *
 * The twin of Ingester._lines in mailtally/ingest/files.py for one chunk of
 * whole lines: split, skip blank lines, parse each line with the C parser and
 * feed what it understood to the C joiner — with no Python object per line.
 * Lines the C parser declines (FL_FALLBACK: non-ASCII text, numbers too big
 * for C, rare shapes) are handed, decoded exactly as the Python path decodes
 * them, to a Python callback that parses and feeds them the Python way, so the
 * outcome is the same as Ingester._lines' line for line.
 */
#include "fastlog.h"

#include <string.h>

/* str.isspace() for an ASCII character: note \x1c-\x1f, which Python counts. */
static inline int ascii_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* A line that is empty or only ASCII whitespace; a non-ASCII byte answers 0
 * (the line then goes to the parser, which declines it, and Python decides). */
static int blank(const char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (!ascii_space((unsigned char)p[i]))
            return 0;
    return 1;
}

/* files.UNKNOWN_PROGRAMS, files.OTHER_PROGRAMS: past this many programs in the
 * report, lines not understood are counted together (a line names its program) */
#define UNKNOWN_PROGRAMS 100
#define OTHER_PROGRAMS "(other programs)"

/* report.unknown[family or program] = [count, sample]: as Ingester._line keeps it. */
static int note_unknown(PyObject *unknown, const fl_result *res, const char *line, Py_ssize_t n) {
    const fl_str *program = res->family.n > 0 ? &res->family : &res->program;
    PyObject *name = program->n > 0 ? PyUnicode_DecodeUTF8(program->p, program->n, "replace")
                                    : PyUnicode_FromString("(no program)");
    if (name == NULL)
        return -1;
    PyObject *slot = PyDict_GetItemWithError(unknown, name); /* borrowed */
    if (slot == NULL && !PyErr_Occurred() && PyDict_GET_SIZE(unknown) >= UNKNOWN_PROGRAMS) {
        Py_SETREF(name, PyUnicode_FromString(OTHER_PROGRAMS));
        if (name == NULL)
            return -1;
        slot = PyDict_GetItemWithError(unknown, name);
    }
    int rc = -1;
    if (slot != NULL) {
        if (!PyList_Check(slot) || PyList_GET_SIZE(slot) < 1) {
            PyErr_SetString(PyExc_TypeError, "unknown: a slot must be [count, sample]");
            goto done;
        }
        /* (held while Python adds: the dict's owner could change the slot) */
        Py_INCREF(slot);
        PyObject *count = Py_NewRef(PyList_GET_ITEM(slot, 0));
        PyObject *one = PyLong_FromLong(1);
        PyObject *next = one == NULL ? NULL : PyNumber_Add(count, one);
        Py_XDECREF(one);
        Py_DECREF(count);
        if (next != NULL && PyList_GET_SIZE(slot) >= 1) {
            rc = PyList_SetItem(slot, 0, next); /* steals next, drops the old count */
        } else if (next != NULL) {
            Py_DECREF(next);
            PyErr_SetString(PyExc_TypeError, "unknown: a slot must be [count, sample]");
        }
        Py_DECREF(slot);
    } else if (!PyErr_Occurred()) {
        /* the sample is line[:300] of the decoded line; the C parser only
         * answers "unknown" for ASCII lines, where characters are bytes */
        PyObject *sample = PyUnicode_DecodeUTF8(line, n < 300 ? n : 300, "replace");
        if (sample == NULL)
            goto done;
        PyObject *new_slot = Py_BuildValue("[iN]", 1, sample);
        if (new_slot == NULL)
            goto done;
        rc = PyDict_SetItem(unknown, name, new_slot);
        Py_DECREF(new_slot);
    }
done:
    Py_DECREF(name);
    return rc;
}

/* report.ignored_programs[program] += 1: as Ingester._line keeps it. */
static int note_ignored(PyObject *by, const fl_str *program) {
    PyObject *name = PyUnicode_DecodeUTF8(program->p, program->n, "replace");
    if (name == NULL)
        return -1;
    PyObject *count = PyDict_GetItemWithError(by, name); /* borrowed */
    if (count == NULL && !PyErr_Occurred() && PyDict_GET_SIZE(by) >= UNKNOWN_PROGRAMS) {
        Py_SETREF(name, PyUnicode_FromString(OTHER_PROGRAMS));
        if (name == NULL)
            return -1;
        count = PyDict_GetItemWithError(by, name);
    }
    int rc = -1;
    if (count != NULL || !PyErr_Occurred()) {
        PyObject *one = PyLong_FromLong(1);
        PyObject *next = one == NULL ? NULL : count == NULL ? Py_NewRef(one)
                                                            : PyNumber_Add(count, one);
        Py_XDECREF(one);
        if (next != NULL) {
            rc = PyDict_SetItem(by, name, next);
            Py_DECREF(next);
        }
    }
    Py_DECREF(name);
    return rc;
}

static int call_fallback(PyObject *fallback, const char *line, Py_ssize_t n) {
    PyObject *text = PyUnicode_DecodeUTF8(line, n, "replace");
    if (text == NULL)
        return -1;
    PyObject *r = PyObject_CallOneArg(fallback, text);
    Py_DECREF(text);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

PyDoc_STRVAR(scan_doc,
"scan(parser, joiner, data, unknown, fallback, ignored_programs=None) -> (lines, ignored)\n\n"
"Parse and join the whole lines of ``data`` (bytes; the last line may lack its\n"
"newline), as Ingester._lines does.  ``unknown`` is the report's dict\n"
"program -> [count, sample]; ``fallback(line: str)`` handles a line the C parser\n"
"declines (parse, feed, report); ``ignored_programs`` (a dict program -> count)\n"
"tallies the ignored lines of programs that never count.  Returns the number of lines and of blank or\n"
"ignored lines among those handled here; events wait in ``joiner.take()``.");

static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *parser, *joiner, *unknown, *fallback, *by = NULL;
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "OOy*O!O|O!:scan", &parser, &joiner, &buf, &PyDict_Type, &unknown,
                          &fallback, &PyDict_Type, &by))
        return NULL;
    if (!fl_parser_check(parser) || !fl_joiner_check(joiner)) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_TypeError, "scan() needs a _fastlog.Parser and a _fastlog.Joiner");
        return NULL;
    }
    /* fl_result holds up to FL_MAX_RECORDS records: too big for the stack of
     * every thread, so one per call */
    fl_result *res = PyMem_Malloc(sizeof(fl_result));
    if (res == NULL) {
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    const char *p = buf.buf, *end = p + buf.len;
    Py_ssize_t lines = 0, ignored = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        Py_ssize_t n = (nl != NULL ? nl : end) - p;
        const char *line = p;
        p = nl != NULL ? nl + 1 : end;
        /* "\r\n" ends a line as "\n" does; a lone "\r" is text */
        if (nl != NULL && n > 0 && line[n - 1] == '\r')
            n--;
        lines++;
        if ((lines & 1023) == 0) {
            /* Let a waiting thread have the GIL now and then: the thread that
             * decompresses the next chunks (files.py) needs it between its zlib
             * calls, and nothing here would let go of it for a whole chunk. */
            Py_BEGIN_ALLOW_THREADS
            Py_END_ALLOW_THREADS
        }
        if (blank(line, n)) {
            ignored++;
            continue;
        }
        if (fl_parse_line(parser, line, n, res) < 0) {
            /* a stamp callback failed: the Python parser reports such a line itself */
            PyErr_Clear();
            res->status = FL_FALLBACK;
        }
        switch (res->status) {
        case FL_OK:
            if (fl_join_feed(joiner, res) < 0)
                goto error;
            break;
        case FL_IGNORED:
            ignored++;
            if (res->tally && by != NULL && note_ignored(by, &res->program) < 0)
                goto error;
            break;
        case FL_UNKNOWN:
            if (note_unknown(unknown, res, line, n) < 0)
                goto error;
            break;
        default: /* FL_FALLBACK */
            if (call_fallback(fallback, line, n) < 0)
                goto error;
        }
    }
    PyMem_Free(res);
    PyBuffer_Release(&buf);
    return Py_BuildValue("nn", lines, ignored);
error:
    PyMem_Free(res);
    PyBuffer_Release(&buf);
    return NULL;
}

static PyMethodDef scan_methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {NULL, NULL, 0, NULL},
};

int fl_scan_init(PyObject *module) {
    return PyModule_AddFunctions(module, scan_methods);
}
