#!/bin/sh
# Run once by the postgres image when its data volume is first initialised: the database
# roles of shared/roles.py, each with the password compose passes in (psql quotes them).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner="$REMIT_OWNER_PASSWORD" -v auth="$REMIT_AUTH_PASSWORD" \
  -v campaigns="$REMIT_CAMPAIGNS_PASSWORD" -v agents="$REMIT_AGENTS_PASSWORD" \
  -v notifier="$REMIT_NOTIFIER_PASSWORD" -v operator="$REMIT_OPERATOR_PASSWORD" <<'SQL'
CREATE ROLE remit_owner LOGIN PASSWORD :'owner';
CREATE ROLE remit_auth LOGIN PASSWORD :'auth';
CREATE ROLE remit_campaigns LOGIN PASSWORD :'campaigns';
CREATE ROLE remit_agents LOGIN PASSWORD :'agents';
CREATE ROLE remit_notifier LOGIN PASSWORD :'notifier';
CREATE ROLE remit_operator LOGIN PASSWORD :'operator';
GRANT CONNECT, CREATE ON DATABASE remit TO remit_owner;
GRANT CONNECT ON DATABASE remit TO remit_auth, remit_campaigns, remit_agents, remit_notifier,
    remit_operator;
GRANT pg_read_all_stats TO remit_operator;
SQL
