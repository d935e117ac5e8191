#include "fastlog.h"

int fl_scan_init(PyObject *module) {
    (void)module;
    return 0;
}
