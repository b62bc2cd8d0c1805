{#
    Volume check: warns when the model's row count moved by more than `max_relative_change`
    (0.2 = 20 %) since the previous run recorded it in the row-count ledger (ops schema, see
    macros/row_counts.sql). Passes when there is no previous count yet.
#}
{% test row_count_stable(model, max_relative_change=0.2) %}
{{ config(severity='warn') }}
{%- set ledger = row_count_ledger() -%}
{%- set ledger_exists = false -%}
{%- if execute -%}
    {%- set ledger_exists = adapter.get_relation(
        database=ledger.database, schema=ledger.schema, identifier=ledger.identifier
    ) is not none -%}
{%- endif %}

with current_count as (
    select count(*) as row_count from {{ model }}
),

{%- if ledger_exists %}

previous_runs as (
    select
        row_count,
        recorded_at
    from {{ ledger }}
    where
        relation_schema = '{{ model.schema }}'
        and relation_name = '{{ model.identifier }}'
        and invocation_id != '{{ invocation_id }}'
),

previous_count as (
    select row_count from previous_runs
    where recorded_at = (select max(recorded_at) from previous_runs)
)
{%- else %}

previous_count as (
    select cast(null as {{ dbt.type_bigint() }}) as row_count
    where 1 = 0
)
{%- endif %}

select
    current_count.row_count,
    previous_count.row_count as previous_row_count
from current_count
cross join previous_count
where
    abs(current_count.row_count - previous_count.row_count)
    > {{ max_relative_change }} * previous_count.row_count

{% endtest %}
