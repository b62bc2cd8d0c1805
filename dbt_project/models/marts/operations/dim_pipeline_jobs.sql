{#- Each job of the daily run, when it last ran and last succeeded, and whether it is
    overdue: no success within `expected_run_interval_hours` (var, default 26) of this
    build's start. dbt's own run is recorded after it ends, so `dbt build` shows the
    previous one. -#}
with runs as (
    select * from {{ ref('fct_pipeline_runs') }}
),

jobs as (
    select
        job,
        max(started_at) as last_started_at,
        max(case when status in ('success', 'warn') then finished_at end) as last_succeeded_at,
        count(*) as runs
    from runs
    group by job
),

latest as (
    select
        job,
        status as last_status,
        row_number() over (partition by job order by started_at desc, run_id desc) as recency
    from runs
)

select
    jobs.job,
    jobs.runs,
    jobs.last_started_at,
    latest.last_status,
    jobs.last_succeeded_at,
    {{ current_utc_timestamp() }} as checked_at,
    coalesce(
        jobs.last_succeeded_at < {{ dbt.dateadd(
            'hour', -1 * var('expected_run_interval_hours', 26), current_utc_timestamp()
        ) }},
        true
    ) as is_overdue
from jobs
inner join latest on jobs.job = latest.job and latest.recency = 1
