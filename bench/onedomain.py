"""A bench-only shape: every account (and alias) of a store moved into its first
domain by SQL, domain_counts recounted as migration 8 fills it — a
100,000-account domain from the 100-domain fixture in minutes, for
``bench/search.py --scope domain`` and ``--others``.  Run it on a copy.

    python bench/onedomain.py bench/out/onedomain.sqlite3
"""

import sqlite3
import sys
import time

c = sqlite3.connect(sys.argv[1])
t = time.time()
c.execute("UPDATE users SET domain_id = (SELECT MIN(id) FROM domains)")
c.execute("UPDATE addresses SET domain_id = (SELECT MIN(id) FROM domains)")
with open("src/mailtally/store/migrations/0008_search_scale.sql") as f:
    sql = f.read()
c.execute("DELETE FROM domain_counts")
c.execute(sql[sql.index("INSERT INTO domain_counts") :])
c.commit()
print(
    f"{time.time() - t:.1f} s",
    c.execute("SELECT * FROM domain_counts WHERE mailbox > 0").fetchall(),
)
