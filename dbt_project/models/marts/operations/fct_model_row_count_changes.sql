{#- Each table and snapshot's row count after each dbt run, against its previous run: a
    drop beyond `row_count_drop_alert_ratio` (var, default 0.5, as alerts.rows_drop_threshold) is flagged. -#}
with counts as (
    select * from {{ ref('stg_ops__dbt_model_row_counts') }}
),

with_previous as (
    select
        invocation_id,
        unique_id,
        relation_schema,
        relation_name,
        run_started_at,
        row_count,
        lag(row_count) over (
            partition by unique_id order by run_started_at, invocation_id
        ) as previous_row_count
    from counts
)

select
    invocation_id,
    unique_id,
    relation_schema,
    relation_name,
    run_started_at,
    row_count,
    previous_row_count,
    row_count - previous_row_count as row_count_change,
    coalesce(
        previous_row_count > 0
        and row_count < previous_row_count * (1 - {{ var('row_count_drop_alert_ratio', 0.5) }}),
        false
    ) as is_drop
from with_previous
