{#- One row per run of either half of the daily job: each loader run and each dbt
    invocation, with one status vocabulary. -#}
with ingest_runs as (
    select * from {{ ref('stg_ops__ingest_runs') }}
),

ingest_resources as (
    select * from {{ ref('stg_ops__ingest_run_resources') }}
),

dbt_invocations as (
    select * from {{ ref('stg_ops__dbt_invocations') }}
),

ingest_totals as (
    select
        run_id,
        sum(rows_loaded) as rows_loaded,
        sum(rows_rejected) as rows_rejected
    from ingest_resources
    group by run_id
),

loader as (
    select
        -- the push writes to Salesforce under the loader's lock and ledger
        case
            when ingest_runs.sources = 'salesforce-push' then 'push' else 'ingest'
        end as job,
        ingest_runs.run_id,
        ingest_runs.started_at,
        ingest_runs.finished_at,
        case ingest_runs.status
            when 'SUCCESS' then 'success'
            when 'SUCCESS_WITH_REJECTS' then 'warn'
            when 'RUNNING' then 'running'
            else 'failed'
        end as status,
        ingest_runs.status as detailed_status,
        ingest_totals.rows_loaded,
        ingest_totals.rows_rejected,
        cast(null as {{ dbt.type_bigint() }}) as failed_nodes
    from ingest_runs
    left join ingest_totals on ingest_runs.run_id = ingest_totals.run_id
),

transform as (
    select
        {{ dbt.concat(["'dbt '", 'command']) }} as job,
        invocation_id as run_id,
        started_at,
        finished_at,
        case status when 'error' then 'failed' else status end as status,
        status as detailed_status,
        cast(null as {{ dbt.type_bigint() }}) as rows_loaded,
        cast(null as {{ dbt.type_bigint() }}) as rows_rejected,
        failed_nodes
    from dbt_invocations
),

unioned as (
    select * from loader
    union all
    select * from transform
)

select
    job,
    run_id,
    started_at,
    finished_at,
    {{ dbt.datediff('started_at', 'finished_at', 'second') }} as duration_seconds,  -- noqa: LT05
    status,
    detailed_status,
    rows_loaded,
    rows_rejected,
    failed_nodes
from unioned
