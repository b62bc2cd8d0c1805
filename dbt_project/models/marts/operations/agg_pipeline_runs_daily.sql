{#- Per UTC day and job: how many runs, how many succeeded, how long they took, and the
    duration against the week before (a job slowing down shows here first). -#}
with runs as (
    select * from {{ ref('fct_pipeline_runs') }}
    where status <> 'running'
),

daily as (
    select
        cast(started_at as date) as run_date,
        job,
        count(*) as runs,
        sum(case when status in ('success', 'warn') then 1 else 0 end) as succeeded_runs,
        avg(duration_seconds) as avg_duration_seconds,
        max(duration_seconds) as max_duration_seconds,
        sum(rows_loaded) as rows_loaded
    from runs
    group by cast(started_at as date), job
)

select
    run_date,
    job,
    runs,
    succeeded_runs,
    cast(succeeded_runs as {{ dbt.type_float() }}) / runs as success_rate,
    avg_duration_seconds,
    max_duration_seconds,
    avg(avg_duration_seconds) over (
        partition by job order by run_date rows between 7 preceding and 1 preceding
    ) as trailing_week_avg_duration_seconds,
    rows_loaded
from daily
