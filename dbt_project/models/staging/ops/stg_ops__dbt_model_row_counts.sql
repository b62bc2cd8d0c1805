with source as (
    select * from {{ ops_table('dbt_model_row_counts') }}
)

select
    invocation_id,
    unique_id,
    relation_schema,
    relation_name,
    row_count,
    cast(run_started_at as {{ dbt.type_timestamp() }}) as run_started_at
from source
