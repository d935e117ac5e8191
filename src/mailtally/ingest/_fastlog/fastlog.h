/* What the parts of the _fastlog extension module share (not a public API).
 *
 *   parse.c   lines -> fl_result (the C twin of mailtally.ingest.parsers), and
 *             the Parser type that answers like parsers.LineParser
 *   join.c    fl_result -> events (the C twin of mailtally.ingest.join.Joiner),
 *             and the Joiner type that answers like join.Joiner
 *   scan.c    a chunk of bytes -> lines -> parser -> joiner, without a Python
 *             object per line: the hot loop of `mailtally ingest`
 *   sum.c     events of one account, kind and day summed into one, for
 *             record_events (the ingester's batches), and tally_events(): the
 *             usual events added to record's cells (record._tally_events)
 *   module.c  the module itself
 */
#ifndef MAILTALLY_FASTLOG_H
#define MAILTALLY_FASTLOG_H

#include "records.h"

/* parse.c */
int fl_parse_init(PyObject *module);      /* adds the Parser type; 0, or -1 with an exception */
int fl_parser_check(PyObject *obj);       /* 1 if obj is a _fastlog.Parser */
/* Parse one line (no trailing newline) into *out.  Returns 0, or -1 with a Python
 * exception set (only for a failed callback, e.g. MemoryError).  Slices in *out
 * point into `line` or into the parser's own storage, valid until the next call. */
int fl_parse_line(PyObject *parser, const char *line, Py_ssize_t n, fl_result *out);

/* join.c */
int fl_join_init(PyObject *module);       /* adds the Joiner type */
int fl_joiner_check(PyObject *obj);       /* 1 if obj is a _fastlog.Joiner */
/* Feed one parse result (any status), as Joiner.feed does; the events it
 * completes go to the joiner's outbox (Joiner.take()).  0, or -1 with an exception. */
int fl_join_feed(PyObject *joiner, const fl_result *r);
/* Feed a Python ParseResult (a line the C parser declined), as Joiner.feed does. */
int fl_join_feed_py(PyObject *joiner, PyObject *parse_result);

/* scan.c */
int fl_scan_init(PyObject *module);       /* adds scan() */

/* sum.c */
int fl_sum_init(PyObject *module);        /* adds sum_events() and tally_events() */
/* cls(*args) for an event class of mailtally.events, built straight into its slots
 * when the class allows it (see join_util.c); the args' references are stolen. */
PyObject *fl_new_event(PyObject *cls, PyObject **args, size_t n);

#endif
