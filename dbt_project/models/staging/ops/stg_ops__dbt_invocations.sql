with source as (
    select * from {{ ops_table('dbt_invocations') }}
)

select
    invocation_id,
    command,
    -- dbt writes UTC timestamps without a zone (the stand-in declares them with one).
    cast(run_started_at as {{ dbt.type_timestamp() }}) as started_at,
    cast(finished_at as {{ dbt.type_timestamp() }}) as finished_at,
    cast(as_of_date as date) as as_of_date,
    status,
    cast(nodes as {{ dbt.type_bigint() }}) as nodes,
    cast(failed as {{ dbt.type_bigint() }}) as failed_nodes,
    cast(warned as {{ dbt.type_bigint() }}) as warned_nodes,
    cast(skipped as {{ dbt.type_bigint() }}) as skipped_nodes
from source
