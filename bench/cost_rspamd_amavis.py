"""CPU time of one parse of adversarial 1 MB rspamd JSON / amavis lines, Python and C
(session 14 review): .venv/bin/python bench/cost_rspamd_amavis.py"""

import resource

from mailtally.ingest import LineParser, _fastlog
from mailtally.ingest.stamps import StampParser

REF = 1795827723
H = '{"ts":1795827723.5,"worker_type":"normal","function":"rspamd_task_write_log",'
M = 1 << 20
cases = {
    "1MB message, whole": H + '"message":"qid: <4F2A>, ' + "x" * M + ' (default: T (reject): [)"}',
    "1MB message, cut": H + '"message":"qid: <4F2A>, ' + "x" * M,
    "1MB of \\u0041": H + '"message":"' + "\\u0041" * (M // 6) + '"}',
    "1MB of \\\\": H + '"message":"' + "\\\\" * (M // 2) + '"}',
    "1MB of [ nesting": H + '"x":' + "[" * M,
    '1MB of {"a": nesting': '{"a":' * (M // 5),
    "1MB of members": "{" + ",".join(f'"k{i}":1' for i in range(M // 10)) + "}",
    "1MB ts digits": '{"ts":' + "9" * M + ',"worker_type":"n","function":"f","message":""}',
    "1MB (x: T ( actions": H + '"message":"qid: <4F2A>, ' + "(x: T (" * (M // 7) + '"}',
    "amavis 1MB queued_as": "Nov 28 01:02:03 mail amavis[1]: (1-01) Passed CLEAN, <a@b> -> <c@d>, "
    "Queue-ID: 4A, " + "queued_as: 4B/" * (M // 14),
}
for name, line in cases.items():
    for which in ("py", "c"):
        p = (
            LineParser(reference=REF)
            if which == "py"
            else _fastlog.Parser(StampParser(REF, None, 3600, {}))
        )
        t0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        r = p.parse(line)
        t1 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        print(
            f"{name:28s} {which:2s} {1000 * (t1 - t0):8.1f} ms  {getattr(r, 'status', r)!s:10.10s}"
        )
