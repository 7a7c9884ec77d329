#!/usr/bin/env bash
# Install (if missing) and start PostgreSQL 15 + PostGIS 3 from Debian's packages, then create
# the project's role and databases with the postgis extension. Idempotent; run as root.
set -euo pipefail

PG_VERSION="${PG_VERSION:-15}"
DB_USER="${CLEANAPP_DB_USER:-cleanapp}"
DB_PASSWORD="${CLEANAPP_DB_PASSWORD:-cleanapp}"
DATABASES=("${CLEANAPP_DB_NAME:-cleanapp}" "${CLEANAPP_TEST_DB_NAME:-cleanapp_test}")

as_postgres() { runuser -u postgres -- env PGOPTIONS="-c client_min_messages=warning" "$@"; }

if ! dpkg -s "postgresql-${PG_VERSION}-postgis-3" >/dev/null 2>&1 \
   || ! dpkg -s "postgresql-${PG_VERSION}" >/dev/null 2>&1; then
  echo "setup_postgis: installing postgresql-${PG_VERSION} and postgresql-${PG_VERSION}-postgis-3"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "postgresql-${PG_VERSION}" "postgresql-${PG_VERSION}-postgis-3" >/dev/null
fi

if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main"' | grep -q .; then
  echo "setup_postgis: creating cluster ${PG_VERSION}/main"
  pg_createcluster "$PG_VERSION" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
  echo "setup_postgis: starting cluster ${PG_VERSION}/main"
  pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start
fi

for _ in $(seq 1 30); do
  if as_postgres psql -qAtc "select 1" >/dev/null 2>&1; then break; fi
  sleep 1
done

# A local development role. SUPERUSER because migrations create the postgis extension.
as_postgres psql -v ON_ERROR_STOP=1 -qAt <<SQL >/dev/null
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${DB_USER}') THEN
    CREATE ROLE ${DB_USER} LOGIN SUPERUSER PASSWORD '${DB_PASSWORD}';
  END IF;
END
\$\$;
SQL

for db in "${DATABASES[@]}"; do
  if ! as_postgres psql -qAtc "SELECT 1 FROM pg_database WHERE datname = '${db}'" | grep -q 1; then
    echo "setup_postgis: creating database ${db}"
    as_postgres createdb -O "$DB_USER" "$db"
  fi
  as_postgres psql -v ON_ERROR_STOP=1 -qAt -d "$db" -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
  # JIT compilation costs ~0.4 s on scope queries that run in milliseconds without it.
  as_postgres psql -v ON_ERROR_STOP=1 -qAt -c "ALTER DATABASE ${db} SET jit = off" >/dev/null
done
echo "setup_postgis: PostgreSQL ${PG_VERSION} + PostGIS ready (role ${DB_USER}, databases ${DATABASES[*]})"
