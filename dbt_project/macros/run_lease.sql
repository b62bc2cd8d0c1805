{#
    One dbt run at a time per schema prefix. Two runs writing the same schemas at once would
    each snapshot the same changes, and the snapshots would gain duplicate versions
    (dbt-core#4661, dbt-adapters#1759); table swaps would collide.

    A Postgres session lock cannot span a dbt run: dbt-postgres closes its connection after
    the on-run-start hooks and after every node. So a run that writes records itself in
    `ops.dbt_run_lease` (on-run-start) and removes itself (on-run-end), and every query it
    sends names its invocation in the query comment (`query_comment_with_invocation`). A
    lease is held while a session of its run is connected: a second run finds one within
    `run_lease_wait_seconds` (a run is between two connections only for moments) and is
    refused; a run killed before on-run-end has no session left, and the next run takes
    over after that wait. Commands that only read (`test`, `source freshness`; `compile`
    and `docs generate` run no hooks) take no lease.
#}

{#- The query comment: dbt's own fields and the invocation, so other runs can see this one. -#}
{% macro query_comment_with_invocation(connection_name, node) -%}
    {%- set comment = {
        'app': 'dbt',
        'dbt_version': dbt_version,
        'profile_name': target.get('profile_name'),
        'target_name': target.get('target_name'),
        'invocation_id': invocation_id,
    } -%}
    {%- if node is not none -%}
        {%- do comment.update(node_id=node.unique_id) -%}
    {%- else -%}
        {%- do comment.update(connection_name=connection_name) -%}
    {%- endif -%}
    {{ return(tojson(comment)) }}
{%- endmacro %}


{% macro run_lease_table() -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=generate_schema_name('ops', none),
        identifier='dbt_run_lease',
    )) }}
{%- endmacro %}


{% macro run_lease_needed() -%}
    {{ return(execute and flags.WHICH not in ('test', 'freshness', 'source', 'compile', 'show')) }}
{%- endmacro %}


{#- on-run-start: take the lease, or stop the run when another run holds it. -#}
{% macro take_run_lease() -%}
    {%- if not run_lease_needed() -%}{{ return('') }}{%- endif -%}
    {{ return(adapter.dispatch('take_run_lease')()) }}
{%- endmacro %}

{% macro default__take_run_lease() -%}
    {{ exceptions.raise_compiler_error("take_run_lease has no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro postgres__take_run_lease() -%}
    {%- set lease = run_lease_table() -%}
    {#- a short session lock (distinct from the loader's run lock, ingest/ledger.py) makes
        reading and taking the lease one step; it ends with this hook's session -#}
    {%- set guard = "1885696868, hashtext('" ~ schema_prefix() ~ "')" -%}
    {%- do run_query("select pg_advisory_lock(" ~ guard ~ ")") -%}
    {%- do run_query(
        "create schema if not exists " ~ adapter.quote(lease.schema) ~ ";"
        ~ " create table if not exists " ~ lease ~ " ("
        ~ " lease_name text primary key, invocation_id text not null,"
        ~ " command text not null, started_at timestamp not null)"
    ) -%}
    {%- set held = run_query("select invocation_id, command, started_at from " ~ lease) -%}
    {%- if held.rows | length > 0 and held.rows[0][0] != invocation_id -%}
        {%- set holder = held.rows[0] -%}
        {%- set sessions = run_lease_sessions(holder[0]) -%}
        {%- if sessions -%}
            {{ exceptions.raise_compiler_error(
                "another dbt " ~ holder[1] ~ " (invocation " ~ holder[0] ~ ", started "
                ~ holder[2] ~ " UTC) is writing these schemas (PEOPLESTACK_SCHEMA_PREFIX "
                ~ (schema_prefix() or "unset") ~ "; its Postgres sessions "
                ~ sessions | join(', ') ~ "); two runs at once would"
                ~ " give the snapshots duplicate versions. Nothing was run: wait for it to"
                ~ " finish and run again."
            ) }}
        {%- endif -%}
        {{ log("dbt run lease: the dbt " ~ holder[1] ~ " started " ~ holder[2]
            ~ " UTC (invocation " ~ holder[0] ~ ") ended without finishing; this run takes over",
            info=true) }}
    {%- endif -%}
    {%- do run_query(
        "delete from " ~ lease ~ ";"
        ~ " insert into " ~ lease ~ " (lease_name, invocation_id, command, started_at)"
        ~ " values ('dbt', '" ~ invocation_id ~ "', '" ~ flags.WHICH ~ "', "
        ~ "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as timestamp));"
        ~ " commit"
    ) -%}
    {%- do run_query("select pg_advisory_unlock(" ~ guard ~ ")") -%}
    {{ return('') }}
{%- endmacro %}


{#- The sessions of a run (its query comments name it), watched for run_lease_wait_seconds:
    a run opens a new session for every node, so a moment without one proves nothing. -#}
{% macro run_lease_sessions(holder_invocation_id) -%}
    {%- set wait_seconds = var('run_lease_wait_seconds', 15) | float -%}
    {%- set marker = '"invocation_id": "' ~ holder_invocation_id ~ '"' -%}
    {%- set found = [] -%}
    {%- for attempt in range([(wait_seconds * 4) | int, 1] | max) -%}
        {%- if not found -%}
            {%- if not loop.first -%}{%- do run_query("select pg_sleep(0.25)") -%}{%- endif -%}
            {#- activity is read once per transaction unless the snapshot is cleared -#}
            {%- do run_query("select pg_stat_clear_snapshot()") -%}
            {%- set sessions = run_query(
                "select pid from pg_stat_activity"
                ~ " where datname = current_database() and pid <> pg_backend_pid()"
                ~ " and position('" ~ marker ~ "' in query) > 0"
            ) -%}
            {%- for row in sessions.rows -%}{%- do found.append(row[0] | string) -%}{%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}


{#- on-run-end: give the lease back (a run killed before this leaves it to the next run). -#}
{% macro release_run_lease() -%}
    {%- if not run_lease_needed() -%}{{ return('') }}{%- endif -%}
    delete from {{ run_lease_table() }} where invocation_id = '{{ invocation_id }}'
{%- endmacro %}
