-- Who chose an account's password: the account of the admin that set it for
-- the account (change_user, or the account's creation with a password); NULL
-- when the account chose it itself, an operator set it, or it was set before
-- this migration.  An admin that set a password knows it: when the account is
-- later granted a role, or an alias, beyond that admin's rights, the password
-- would carry the admin past them (isolation rule 1; session 15's attack round:
-- a domain admin set a colleague's password, the company admin made the
-- colleague a company admin, and the domain admin logged in as one).  Such a
-- password is then ended with the grant, as the tokens admins made are.
ALTER TABLE users ADD COLUMN password_set_by INTEGER;
