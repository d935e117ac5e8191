/* mailtally.ingest._fastlog: the compiled twin of the log parsers and the joiner.
 * See fastlog.h for the parts; mailtally/ingest/fast.py for how it is used. */
#include "fastlog.h"

static struct PyModuleDef fastlog_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mailtally.ingest._fastlog",
    .m_doc = "Compiled log parser and joiner (the twins of mailtally.ingest.parsers and .join).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__fastlog(void) {
    PyObject *m = PyModule_Create(&fastlog_module);
    if (m == NULL)
        return NULL;
    if (fl_parse_init(m) < 0 || fl_join_init(m) < 0 || fl_scan_init(m) < 0 ||
        fl_sum_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
