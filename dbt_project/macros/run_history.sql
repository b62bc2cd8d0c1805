{#
    dbt's half of the run history (the loader's is ops.ingest_runs): after every invocation
    that runs nodes (on-run-end), one row in `ops.dbt_invocations` and one per node in
    `ops.dbt_node_results` — status, timing, rows affected, test failures, the `as_of_date`
    used. `python -m ingest status` and the monitoring mart read them. Messages are cut to
    1,000 characters: a failing test's message names the test, not its rows.
#}
{% macro dbt_history_relation(identifier) -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=generate_schema_name('ops', none),
        identifier=identifier,
    )) }}
{%- endmacro %}


{% macro sql_text(value, limit=1000) -%}
    {%- if value is none -%}null{%- else -%}'{{ (value | string)[:limit] | replace("'", "''") }}'{%- endif -%}
{%- endmacro %}


{% macro record_run_results(results) -%}
    {%- if not execute or results | length == 0 -%}{{ return('') }}{%- endif -%}
    {%- set invocations = dbt_history_relation('dbt_invocations') -%}
    {%- set nodes = dbt_history_relation('dbt_node_results') -%}
    {%- set counts = {'success': 0, 'error': 0, 'warn': 0, 'skipped': 0} -%}
    {%- for result in results -%}
        {%- set status = result.status | string -%}
        {%- set bucket = 'error' if status in ('error', 'fail', 'runtime error')
            else ('warn' if status == 'warn' else ('skipped' if status == 'skipped' else 'success')) -%}
        {%- do counts.update({bucket: counts[bucket] + 1}) -%}
    {%- endfor -%}
    {%- set overall = 'error' if counts['error'] else ('warn' if counts['warn'] else 'success') -%}
    create schema if not exists {{ adapter.quote(invocations.schema) }};
    create table if not exists {{ invocations }} (
        invocation_id {{ dbt.type_string() }} not null primary key,
        command {{ dbt.type_string() }} not null,
        run_started_at {{ dbt.type_timestamp() }} not null,
        finished_at {{ dbt.type_timestamp() }} not null,
        as_of_date date not null,
        status {{ dbt.type_string() }} not null,
        nodes {{ dbt.type_int() }} not null,
        succeeded {{ dbt.type_int() }} not null,
        failed {{ dbt.type_int() }} not null,
        warned {{ dbt.type_int() }} not null,
        skipped {{ dbt.type_int() }} not null
    );
    create table if not exists {{ nodes }} (
        invocation_id {{ dbt.type_string() }} not null,
        unique_id {{ dbt.type_string() }} not null,
        resource_type {{ dbt.type_string() }} not null,
        status {{ dbt.type_string() }} not null,
        execution_seconds {{ dbt.type_float() }},
        rows_affected {{ dbt.type_bigint() }},
        failures {{ dbt.type_bigint() }},
        message {{ dbt.type_string() }},
        primary key (invocation_id, unique_id)
    );
    insert into {{ invocations }} (
        invocation_id, command, run_started_at, finished_at, as_of_date, status,
        nodes, succeeded, failed, warned, skipped
    ) values (
        '{{ invocation_id }}',
        {{ sql_text(flags.WHICH) }},
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}),
        {{ current_utc_timestamp() }},
        {{ compliance_as_of_date() }},
        '{{ overall }}',
        {{ results | length }},
        {{ counts['success'] }},
        {{ counts['error'] }},
        {{ counts['warn'] }},
        {{ counts['skipped'] }}
    );
    insert into {{ nodes }} (
        invocation_id, unique_id, resource_type, status, execution_seconds, rows_affected,
        failures, message
    ) values
    {%- for result in results %}
    {%- set affected = (result.adapter_response or {}).get('rows_affected') %}
    (
        '{{ invocation_id }}',
        {{ sql_text(result.node.unique_id) }},
        {{ sql_text(result.node.resource_type) }},
        {{ sql_text(result.status) }},
        {{ result.execution_time | float }},
        {{ affected | int if affected is not none else 'null' }},
        {{ result.failures if result.failures is not none else 'null' }},
        {{ sql_text(result.message) }}
    ){{ "," if not loop.last else ";" }}
    {%- endfor %}
{%- endmacro %}
