#!/usr/bin/env bash
# `make demo`: the whole job on the built-in sandbox tenant, one simulated day at a time —
# load the day's changes, then `dbt build` (snapshots record history as of each run), then
# push compliance to the Salesforce users.
# Each demo continues the simulated calendar where the last one stopped, so re-running it
# adds days instead of re-reading old ones.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DAYS=${DEMO_DAYS:-5}
SCALE=${DEMO_SCALE:-medium}

if [ -n "${PGHOST:-}" ]; then
  echo "make demo writes the sandbox company into the local warehouse; unset PGHOST first." >&2
  exit 2
fi
warehouse_dir=${PEOPLESTACK_WAREHOUSE_DIR:-.warehouse}
case $warehouse_dir in /*) ;; *) warehouse_dir=$PWD/$warehouse_dir ;; esac
# The local warehouse's generated password, which dbt (libpq) reads from this passfile.
export PGPASSFILE=$warehouse_dir/pgpass
state=$warehouse_dir/demo-next-day
first=$(cat "$state" 2>/dev/null || echo 0)
last=$((first + DAYS - 1))

for day in $(seq "$first" "$last"); do
  echo "== simulated day $day: load the sandbox tenant ($SCALE), then dbt build"
  $BIN/python -m ingest --sandbox --sandbox-scale "$SCALE" --sandbox-day "$day"
  # Compliance is judged as of the simulated day, not the machine's clock.
  as_of=$($BIN/python -m ingest.sandbox date --day "$day")
  $BIN/dbt build --quiet --vars "{as_of_date: '$as_of'}" \
    --warn-error-options '{"silence": ["NoNodesForSelectionCriteria"]}' \
    || { echo "dbt build failed on day $day" >&2; exit 1; }
  # Compliance back onto the Salesforce users: what changed since the day before. (Each
  # day's sandbox starts afresh, so its users keep the values only until the day ends.)
  $BIN/python -m ingest push --sandbox --sandbox-scale "$SCALE" --sandbox-day "$day" \
    || { echo "push failed on day $day" >&2; exit 1; }
  echo $((day + 1)) > "$state"
done

$BIN/python -m ingest status | head -n 12
$BIN/dbt run-operation demo_summary --quiet --vars "{as_of_date: '$as_of'}"
cat <<EOF

Next: query the marts (PGPASSFILE=$PGPASSFILE psql "postgresql://postgres@127.0.0.1:${PGPORT:-55432}/peoplestack"),
see README.md "The data model" for example queries, or run \`make demo\` again for more days.
EOF
