#include "fastlog.h"

int fl_parse_init(PyObject *module) {
    (void)module;
    return 0;
}
