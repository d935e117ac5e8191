"""Random rspamd-JSON-ish and amavis-ish lines (and every prefix of some), LineParser
against _fastlog.Parser, for a time (session 14 review):
.venv/bin/python bench/diff_rspamd_amavis.py SEED SECONDS

A tenth of the amavis lines are also split as amavis splits a long entry (pieces of a
random $logline_maxlen, some dropped, duplicated or moved to another pid or log id,
two children interleaved) and fed in order to one source's two routes: the compiled
parser with its declined lines handed to a LineParser (files.Ingester), and a
LineParser alone; their answers and what each gave up must be the same (session 15)."""

import calendar
import random
import sys
import time

from mailtally.ingest import LineParser, _fastlog
from mailtally.ingest.stamps import StampParser

REF = calendar.timegm((2026, 11, 28, 23, 0, 0))


def both(line):
    want = LineParser(reference=REF).parse(line)
    got = _fastlog.Parser(StampParser(REF, None, 3600, {})).parse(line)
    return want, got


def routes(lines):
    """One source's lines through the compiled route and the pure-Python one."""
    out = []
    for compiled in (True, False):
        py = LineParser(reference=REF)
        fast = _fastlog.Parser(py.stamps) if compiled else None
        res = []
        for ln in lines:
            r = fast.parse(ln) if fast is not None else None
            res.append(r if r is not None else py.parse(ln))
        py.flush()
        out.append((res, py.dropped))
    return out


def pieces(msg, size):
    """amavis write_log's rule (Amavis/Log.pm; our own code, from the rule)."""
    am = msg[: msg.index(") ") + 2]
    text = msg[len(am) :]
    out, pre = [], ""
    while len(am) + len(pre) + len(text) > size:
        avail = size - len(am) - len(pre) - 3
        out.append(am + pre + text[:avail] + "...")
        pre, text = "...", text[avail:]
    return [*out, am + pre + text]


def split_lines(line):
    head, msg = line.split(": ", 1)
    ps = [head + ": " + p for p in pieces(msg, R.randint(50, max(51, len(msg))))]
    if len(ps) > 1 and R.random() < 0.3:
        i = R.randrange(len(ps))
        ps[i] = R.choice(
            [ps[i].replace("amavis[1]", "amavis[2]"), ps[i].replace("(1-01)", "(1-02)"), ""]
        )
    if R.random() < 0.2:
        ps.insert(R.randrange(len(ps) + 1), R.choice(ps))
    return [p for p in ps if p]


R = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
KEYS = ["ts", "worker_type", "function", "message", "pid", "id", "severity", "module", "x"]
FNS = ["rspamd_task_write_log", "other", "rspamd_task_write_lo", ""]
MSGS = [
    "qid: <4F2A>, (default: T (add header): [1/2] [])",
    "qid: <4F2A>, (default: F (no action): [1/2] []",
    "id: <a>, qid: <AB>, (default: T (reject): [1/2] []",
    "qid: <X",
    "qid: <4F2A>, (default: T",
    "hello",
    "qid: <A\\u0042C>, (default: T (soft reject): [",
    "qid: <A>, (x: T (greylist))",
    "",
    # session 15 (forgery): a sender's qid / action before or after the genuine ones
    "id: <m@x>, qid: <4F2A>, from: <a (default: F (no action)@e>, (default: T (reject): [",
    "id: <m@x>, from: <a>, qid: <V>@e>, (default: T (add header): [1/2] []",
    "id: <m@x>, qid: <4F2A>, (default: T (add header): [1/2] [A(1){(x: F (}]",
    "id: <m@x>,qid:<V>, qid: <4F2A>, (default: F (no action))",
    "id: <m@x> qid: <4F2A>, x: <qid: <V>>, (default: F (no action))",
    "qid: <4F2A>, from: <qid: <V>>, (default: S (soft reject)) (y: T (",
]
ESC = [
    '\\"',
    "\\\\",
    "\\/",
    "\\b",
    "\\n",
    "\\t",
    "\\u0041",
    "\\u00e9",
    "\\ud83d\\ude00",
    "\\ud800",
    "\\u12",
    "\\x41",
    "\\u004",
    "\\",
    "\\u0000",
    "\x00",
    "\t",
    '"',
]
TS = [
    "1795827723.5",
    "1795827723",
    "0",
    "-1",
    "1e9",
    "1795827723.",
    "99999999999999999999",
    "253402300799",
    "253402300800",
    "0001795827723",
    "1.5e3",
    "00",
    "-0",
    "1E+5",
    '"1795827723"',
    "true",
    "null",
    "NaN",
    "Infinity",
    "1.5.5",
    "999999999999.99",
]
WT = ['"normal"', '"controller"', "1", "null", '""']


def sval(s):
    # maybe inject escapes
    out = []
    for ch in s:
        if R.random() < 0.05:
            out.append(R.choice(ESC))
        out.append(ch)
    return '"' + "".join(out) + '"'


def ws():
    return R.choice(
        ["", " ", "", "\t", "  ", "\r", "\n", "\x0b", "\xa0"][: 8 if R.random() < 0.95 else 9]
    )


def value(k):
    r = R.random()
    if k == "ts":
        return R.choice(TS) if r < 0.9 else sval("x")
    if k == "worker_type":
        return R.choice(WT)
    if k == "function":
        return sval(R.choice(FNS)) if r < 0.9 else R.choice(["1", "null", "{}", "[]"])
    if k == "message":
        return sval(R.choice(MSGS)) if r < 0.9 else R.choice(["1", "true", '{"a":1}', '["x"]'])
    return R.choice(
        [
            "1",
            '"a"',
            "true",
            "false",
            "null",
            "{}",
            "[1]",
            '{"a":{"b":1}}',
            "01",
            "-",
            "1.",
            "tru",
            '"\\u00"',
        ]
    )


def jline():
    keys = ["ts", "pid", "severity", "worker_type", "id", "module", "function", "message"]
    if R.random() < 0.3:
        R.shuffle(keys)
    if R.random() < 0.2:
        keys.append(R.choice(KEYS))
    if R.random() < 0.1:
        keys.remove(R.choice(keys))
    parts = []
    for k in keys:
        kk = sval(k) if R.random() < 0.97 else '"' + k + '\\u0000"'
        parts.append(ws() + kk + ws() + ":" + ws() + value(k) + ws())
    sep = ","
    s = (
        "{"
        + sep.join(parts)
        + "}"
        + (ws() if R.random() < 0.9 else R.choice(["x", "}", ",", "{}"]))
    )
    if R.random() < 0.3:
        pre = R.choice(
            [
                "Nov 28 01:02:03 mail rspamd[1]: ",
                "2026-11-28T01:02:03Z mail rspamd[1]: ",
                "Nov 28 01:02:03 mail postfix/smtpd[1]: ",
            ]
        )
        s = pre + s
    return s


AM = (
    "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed {cat}, <a@b> -> <c@d>,<e@f>, Queue-ID: {q}, "
    "Message-ID: <{mid}>, queued_as: {ids}{tail}"
)


def ident():
    return R.choice(["4B", "4C", "4DEF", "A_b", "4A", "", "x" * R.randint(1, 20)])


def aline():
    n = R.choice([0, 1, 2, 3, 7, 8, 15, 16, 17, 63, 64, 65, 66, 200])
    ids = R.choice(["/", "/", "/", "//", " /", "/ "]).join(ident() for _ in range(n))
    tail = R.choice(
        ["", ", 12 ms", "...", "/...", "/", " ...", ", queued_as: 5X/5Y", "..", "/4Z..."]
    )
    cat = R.choice(["CLEAN", "SPAM", "SPAMMY", "BAD-HEADER-0"])
    mid = R.choice(["m@x", "queued_as: VICTIM@x", "queued_as: V1/V2"])
    return AM.format(cat=cat, q=R.choice(["4A", "4B", "4C"]), mid=mid, ids=ids, tail=tail)


n = diffs = decl = joined = counted = 0
seen = set()
t0 = time.time()
while time.time() - t0 < float(sys.argv[2]) if len(sys.argv) > 2 else 60:
    base = jline() if R.random() < 0.7 else aline()
    if " amavis[1]: (1-01) " in base and R.random() < 0.1:
        other = aline().replace("amavis[1]: (1-01)", "amavis[7]: (7-01)")
        a, b = split_lines(base), split_lines(other)
        seq = []
        while a or b:
            seq.append((a if a and (not b or R.random() < 0.5) else b).pop(0))
        c, p = routes(seq)
        n += len(seq)
        joined += 1
        counted += any(r.records for r in p[0])
        if c != p:
            diffs += 1
            print("DIFF (split)", seq)
            print("  c ", c)
            print("  py", p)
        continue
    cands = [base]
    if R.random() < 0.2:
        cands += [base[:i] for i in range(len(base))]
    for line in cands:
        n += 1
        try:
            want, got = both(line)
        except Exception as e:
            print("EXC", repr(e), repr(line))
            diffs += 1
            continue
        if got is None:
            decl += 1
            continue
        if got != want:
            key = (want.status, got.status)
            diffs += 1
            if key not in seen or diffs < 10:
                seen.add(key)
                print("DIFF", repr(line))
                print("  py", want)
                print("  c ", got)
print(
    "lines",
    n,
    "diffs",
    diffs,
    "declined",
    decl,
    "split sequences",
    joined,
    "of which counted",
    counted,
)
