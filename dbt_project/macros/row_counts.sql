{#
    The row-count ledger: after every run (on-run-end) one row per table and snapshot that run
    built, so the `row_count_stable` test can compare a model with its previous run. It lives
    in the `ops` schema beside the loader's run ledger.
#}
{% macro row_count_ledger() -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=generate_schema_name('ops', none),
        identifier='dbt_model_row_counts',
    )) }}
{%- endmacro %}


{% macro record_row_counts(results) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set counted = [] -%}
    {%- for result in results -%}
        {%- if result.status == 'success'
            and result.node.resource_type in ('model', 'snapshot')
            and result.node.config.materialized in ('table', 'incremental', 'snapshot') -%}
            {%- do counted.append(result.node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if counted | length == 0 -%}{{ return('') }}{%- endif -%}
    {%- set ledger = row_count_ledger() -%}
    create schema if not exists {{ adapter.quote(ledger.schema) }};
    create table if not exists {{ ledger }} (
        invocation_id {{ dbt.type_string() }} not null,
        unique_id {{ dbt.type_string() }} not null,
        relation_schema {{ dbt.type_string() }} not null,
        relation_name {{ dbt.type_string() }} not null,
        row_count {{ dbt.type_bigint() }} not null,
        run_started_at {{ dbt.type_timestamp() }} not null,
        recorded_at {{ dbt.type_timestamp() }} not null
    );
    insert into {{ ledger }} (
        invocation_id,
        unique_id,
        relation_schema,
        relation_name,
        row_count,
        run_started_at,
        recorded_at
    )
    {%- for node in counted %}
    select
        '{{ invocation_id }}',
        '{{ node.unique_id }}',
        '{{ node.schema }}',
        '{{ node.alias }}',
        count(*),
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}),
        {{ current_utc_timestamp() }}
    from {{ node.relation_name }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %};
{%- endmacro %}
