-- The guide's slow-query diagnostics read pg_stat_statements (preloaded by the command).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
