-- A token an admin made for another account (generate_token) names its maker
-- (the maker's account id; NULL for an operator's, and for session tokens,
-- which the account makes for itself).  A token is the account's power, made
-- only by an admin whose rights cover the account (isolation rule 1): when
-- the maker loses those rights — its account deleted, its roles taken away,
-- the domain it held a role on deleted — the tokens it made are dropped with
-- them (session 13's attack-chain review: a deleted domain admin kept acting
-- through the token it had made for a fellow admin, for up to 7 days).
-- Tokens made before this migration have no maker: they run out as before.
ALTER TABLE tokens ADD COLUMN made_by BIGINT;
CREATE INDEX tokens_made_by ON tokens (made_by) WHERE made_by IS NOT NULL;
