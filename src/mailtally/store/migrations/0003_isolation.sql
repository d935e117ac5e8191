-- Tenant isolation (SPEC §2, isolation rules 2 and 5).

-- Roles name their object by kind and id, not by spelling: a company, a domain
-- and a workgroup spelled alike are different things (rule 2), and deleting one
-- tenant's domain can only drop roles on that domain.  kind is 'company' (object_id
-- = companies.id), 'domain' (domains.id) or 'workgroup' (domains.id, and the
-- workgroup's name in workgroup; '' for the other kinds).
CREATE TABLE roles_by_id (
    company_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    object_id  INTEGER NOT NULL,
    workgroup  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, role, kind, object_id, workgroup)
);

-- Existing rows: each name is read as the kind its role gives it, inside the
-- role holder's own company only (a role on another company's object never
-- meant anything).  Company roles by the company's exact name.
INSERT INTO roles_by_id (company_id, user_id, role, kind, object_id, workgroup)
SELECT r.company_id, r.user_id, r.role, 'company', c.id, ''
FROM roles r JOIN companies c ON c.id = r.company_id AND c.name = r.object
WHERE r.role IN ('company', 'company_ro', 'company_view', 'company_mail', 'company_token_only');

INSERT INTO roles_by_id (company_id, user_id, role, kind, object_id, workgroup)
SELECT r.company_id, r.user_id, r.role, 'domain', d.id, ''
FROM roles r JOIN domains d
  ON d.company_id = r.company_id AND d.name = r.object AND d.deletetime IS NULL
WHERE r.role IN ('domain', 'mail');

INSERT INTO roles_by_id (company_id, user_id, role, kind, object_id, workgroup)
SELECT r.company_id, r.user_id, r.role, 'workgroup', d.id,
       substr(r.object, length(d.name) + 2)
FROM roles r JOIN domains d
  ON d.company_id = r.company_id AND d.deletetime IS NULL
 AND substr(r.object, 1, length(d.name) + 1) = d.name || '/'
WHERE r.role = 'workgroup';

DROP TABLE roles;
ALTER TABLE roles_by_id RENAME TO roles;
CREATE INDEX roles_object ON roles (kind, object_id);

-- Company names are unique regardless of case (rule 5): name_key is the
-- canonical form (mailtally.names.company_key: NFKC, case-folded), filled in by
-- the migration's Python step; lookups go by it.
ALTER TABLE companies ADD COLUMN name_key TEXT;
