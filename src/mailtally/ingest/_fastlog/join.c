#include "fastlog.h"

int fl_join_init(PyObject *module) {
    (void)module;
    return 0;
}
