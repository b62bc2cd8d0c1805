with source as (
    select * from {{ ops_table('ingest_run_resources') }}
)

select
    run_id,
    source as loader_source,
    resource,
    status,
    rows_extracted,
    rows_loaded,
    rows_rejected,
    api_requests
from source
