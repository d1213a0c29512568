-- The slow-query diagnostics (remit diagnose, the troubleshooting page) read pg_stat_statements
-- (preloaded by the command).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
