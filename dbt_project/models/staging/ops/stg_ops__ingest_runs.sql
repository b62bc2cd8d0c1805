with source as (
    select * from {{ ops_table('ingest_runs') }}
)

select
    run_id,
    {{ to_utc_timestamp('started_at') }} as started_at,
    {{ to_utc_timestamp('finished_at') }} as finished_at,
    status,
    sources,
    error
from source
