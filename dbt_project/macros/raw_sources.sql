{#
    The raw tables the loader writes, and which of them this warehouse has.

    A team may load any subset of the loader's sources (`salesforce`, `successfactors`,
    `successfactors_learning`). Each raw table names its loader source in
    `config.meta.loader_source` (the `_*__sources.yml` files) and declares its columns with
    a `data_type`. Staging reads every raw table through `raw_table`, so a table that is
    absent becomes an empty relation with the declared columns and every model still builds:
    the marts of an absent source are empty, and marts that join two sources build with the
    one that is there.

    Which sources are in use:
    - `enabled_sources` unset (the default): detected from the warehouse; a raw table is
      read when it exists.
    - `enabled_sources` set (a list, or a comma-separated string): exactly those sources. A
      listed source whose tables are missing fails the run at its start (a wrong schema
      prefix or a loader that never ran must not pass as "no data"); an unlisted source is
      left out even when its tables exist.
#}

{#- A raw table, or an empty stand-in with its declared columns when it is not in use.
    Calling `source()` keeps the table in the lineage whatever happens at run time. -#}
{% macro raw_table(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute or not graph.get('sources') -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- if raw_table_in_use(source_name, table_name) -%}
        {{ return(committed_rows(relation, source_name, table_name)) }}
    {%- endif -%}
    {{ return(declared_empty_relation(source_name, table_name)) }}
{%- endmacro %}


{#- An empty relation with the columns a source table declares (`data_type`), standing in for
    a table that is not there. -#}
{% macro declared_empty_relation(source_name, table_name) -%}
    {%- set columns = raw_table_node(source_name, table_name).columns.values() | list -%}
    {%- set stand_in -%}
        (
            select
            {%- for column in columns %}
                cast(null as {{ raw_data_type(column.data_type, source_name ~ '.' ~ table_name ~ '.' ~ column.name) }}) as {{ adapter.quote(column.name) }}{{ "," if not loop.last }}
            {%- endfor %}
            where 1 = 0
        ) as {{ adapter.quote('absent_' ~ table_name) }}
    {%- endset -%}
    {{ return(stand_in) }}
{%- endmacro %}


{#- A table of the run history in `ops` (the loader's ledger, dbt's on-run-end history), or
    an empty stand-in before the run that first writes it. -#}
{% macro ops_table(table_name) -%}
    {%- set relation = source('ops', table_name) -%}
    {%- if not execute or not graph.get('sources') -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {%- if found is not none -%}
        {{ return(relation) }}
    {%- endif -%}
    {{ return(declared_empty_relation('ops', table_name)) }}
{%- endmacro %}


{#- The rows of a raw table whose load completed. dlt commits a load table by table and
    lists it in `_dlt_loads` last: rows of a load in progress, or of one killed midway (the
    loader deletes those on its next run), are not data yet. -#}
{% macro committed_rows(relation, source_name, table_name) -%}
    {%- set columns = raw_table_node(source_name, table_name).columns -%}
    {%- if '_dlt_load_id' not in columns -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set loads = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier='_dlt_loads'
    ) -%}
    {%- if loads is none -%}
        {#- no load ledger: the rows were not written by dlt (a hand-made fixture) -#}
        {{ return(relation) }}
    {%- endif -%}
    {%- set replay = history_replay() -%}
    {%- set committed -%}
        (
            select * from {{ relation }}
            where _dlt_load_id in (select load_id from {{ loads }} where status = 0)
            {%- if replay %}
                and cast(_dlt_load_id as numeric) <= {{ replay.load_id }}
            {%- endif %}
        ) as {{ adapter.quote(table_name) }}
    {%- endset -%}
    {{ return(committed) }}
{%- endmacro %}


{#- The manifest node of a raw table (columns, meta). -#}
{% macro raw_table_node(source_name, table_name) -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.source_name == source_name and node.name == table_name -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("no source table " ~ source_name ~ "." ~ table_name) }}
{%- endmacro %}


{#- Whether a raw table is read: its loader source is in use and the table exists. -#}
{% macro raw_table_in_use(source_name, table_name) -%}
    {%- if not graph.get('sources') -%}
        {#- a unit test compiles its model without the project's sources: its inputs are
            fixtures, so what the model reads is there by definition -#}
        {{ return(true) }}
    {%- endif -%}
    {%- set node = raw_table_node(source_name, table_name) -%}
    {%- if not loader_source_enabled(node.config.meta.get('loader_source')) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=node.database, schema=node.schema, identifier=node.identifier
    ) -%}
    {{ return(found is not none) }}
{%- endmacro %}


{#- The loader sources `enabled_sources` lists, or none when it is unset (detect them). -#}
{% macro enabled_loader_sources() -%}
    {%- set value = var('enabled_sources', none) -%}
    {%- if value is none or value == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set names = value.split(',') if value is string else value -%}
    {%- set enabled = [] -%}
    {%- for name in names -%}
        {%- if name | trim -%}{%- do enabled.append(name | trim) -%}{%- endif -%}
    {%- endfor -%}
    {%- set known = loader_source_names() -%}
    {%- for name in enabled -%}
        {%- if name not in known -%}
            {{ exceptions.raise_compiler_error(
                "enabled_sources names an unknown source '" ~ name ~ "'; the loader's sources are "
                ~ known | join(', ')
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(enabled) }}
{%- endmacro %}


{% macro loader_source_enabled(loader_source) -%}
    {%- set enabled = enabled_loader_sources() -%}
    {{ return(enabled is none or loader_source in enabled) }}
{%- endmacro %}


{#- Every loader source named by a raw table, in a stable order. -#}
{% macro loader_source_names() -%}
    {%- set names = [] -%}
    {%- for node in graph.sources.values() | sort(attribute='unique_id') -%}
        {%- set name = node.config.meta.get('loader_source') -%}
        {%- if name and name not in names -%}{%- do names.append(name) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{#- A loader (dlt) data type as this adapter's SQL type. -#}
{% macro raw_data_type(data_type, where) -%}
    {%- set types = {
        'text': dbt.type_string(),
        'bigint': dbt.type_bigint(),
        'double': dbt.type_float(),
        'bool': dbt.type_boolean(),
        'timestamp': type_timestamp_with_time_zone(),
    } -%}
    {%- if data_type not in types -%}
        {{ exceptions.raise_compiler_error(
            where ~ " declares data_type '" ~ data_type ~ "'; use one of " ~ types.keys() | join(', ')
        ) }}
    {%- endif -%}
    {{ return(types[data_type]) }}
{%- endmacro %}


{% macro type_timestamp_with_time_zone() -%}
    {{ return(adapter.dispatch('type_timestamp_with_time_zone')()) }}
{%- endmacro %}

{% macro default__type_timestamp_with_time_zone() -%}
    {{ return('timestamp with time zone') }}
{%- endmacro %}


{#
    on-run-start: say which loader sources this run reads and what that means for the marts;
    fail when `enabled_sources` lists a source whose tables are missing. Each mart declares
    in `config.meta.loader_sources` the sources it `needs` (without one of them it is empty)
    and those that only `enrich` it (without them some columns are null).
#}
{% macro report_raw_sources() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set enabled = enabled_loader_sources() -%}
    {%- set tables = {} -%}
    {%- for node in graph.sources.values() | sort(attribute='unique_id') -%}
        {%- set loader_source = node.config.meta.get('loader_source') -%}
        {%- if loader_source -%}
            {%- do tables.setdefault(loader_source, []).append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set absent = [] -%}
    {%- set missing_enabled = [] -%}
    {%- for loader_source, nodes in tables.items() -%}
        {%- set missing = [] -%}
        {%- set empty = [] -%}
        {%- for node in nodes -%}
            {%- set found = adapter.get_relation(
                database=node.database, schema=node.schema, identifier=node.identifier
            ) -%}
            {%- if found is none -%}
                {%- do missing.append(node.schema ~ '.' ~ node.identifier) -%}
            {%- elif node.name != 'deletions'
                and run_query('select 1 from ' ~ found ~ ' limit 1').rows | length == 0 -%}
                {%- do empty.append(node.schema ~ '.' ~ node.identifier) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if enabled is not none and loader_source not in enabled -%}
            {%- do absent.append(loader_source) -%}
            {{ log("raw sources: " ~ loader_source ~ " is left out (not in enabled_sources)", info=true) }}
        {%- elif missing | length == nodes | length -%}
            {%- do absent.append(loader_source) -%}
            {%- if enabled is not none -%}
                {%- do missing_enabled.append(loader_source ~ " (" ~ missing | join(', ') ~ ")") -%}
            {%- else -%}
                {{ log("raw sources: " ~ loader_source ~ " is not loaded in this warehouse (no "
                    ~ missing | join(', ') ~ "): its tables read as empty", info=true) }}
            {%- endif -%}
        {%- elif missing -%}
            {%- if enabled is not none -%}
                {%- do missing_enabled.append(loader_source ~ " (" ~ missing | join(', ') ~ ")") -%}
            {%- else -%}
                {{ log("raw sources: " ~ loader_source ~ " is in use, but " ~ missing | join(', ')
                    ~ " does not exist yet (read as empty; the loader creates it on its next run)",
                    info=true) }}
            {%- endif -%}
        {%- else -%}
            {{ log("raw sources: " ~ loader_source ~ " is in use", info=true) }}
        {%- endif -%}
        {%- if empty and loader_source not in absent -%}
            {{ log("raw sources: " ~ empty | join(', ') ~ " has no rows yet (the API answered none"
                ~ " so far): what is built from it is empty", info=true) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if missing_enabled -%}
        {{ exceptions.raise_compiler_error(
            "enabled_sources lists sources whose raw tables are missing: "
            ~ missing_enabled | join('; ')
            ~ ". Run `python -m ingest --sources <source>` first, check PEOPLESTACK_SCHEMA_PREFIX,"
            ~ " or leave the source out of enabled_sources."
        ) }}
    {%- endif -%}
    {{ refuse_to_empty_snapshot_history(absent) }}
    {%- for node in graph.nodes.values() | sort(attribute='name') -%}
        {%- set needs = node.config.meta.get('loader_sources', {}) -%}
        {%- if node.resource_type == 'model' and needs -%}
            {%- set lacking = needs.get('needs', []) | select('in', absent) | list -%}
            {%- set thinner = needs.get('enriched_by', []) | select('in', absent) | list -%}
            {%- if not needs.get('needs') and thinner | length == needs.get('enriched_by', []) | length -%}
                {#- a mart fed by whichever source is there (dim_person) and none is -#}
                {%- set lacking = thinner -%}
            {%- endif -%}
            {%- if lacking -%}
                {{ log("raw sources: " ~ node.name ~ " builds empty (it needs "
                    ~ lacking | join(' and ') ~ ")", info=true) }}
            {%- elif thinner -%}
                {{ log("raw sources: " ~ node.name ~ " builds without " ~ thinner | join(' and ')
                    ~ " (see its docs for the columns that stay null)", info=true) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}


{#
    A snapshot that already holds history must never read its source as empty: with
    `hard_deletes: new_record` it would close every record as deleted. That happens when a
    source that was loaded goes missing (its raw schema dropped, a wrong schema prefix) or is
    left out by `enabled_sources`; a run that selects such a snapshot stops before anything
    is written.
#}
{% macro refuse_to_empty_snapshot_history(absent_sources) -%}
    {%- set endangered = [] -%}
    {%- for node in graph.nodes.values() | sort(attribute='name') -%}
        {%- if node.resource_type == 'snapshot' and node.unique_id in selected_resources -%}
            {%- set fed_by = upstream_loader_sources(node) | select('in', absent_sources) | list -%}
            {%- if fed_by -%}
                {%- set found = adapter.get_relation(
                    database=node.database, schema=node.schema, identifier=node.alias
                ) -%}
                {%- if found is not none
                    and run_query('select 1 from ' ~ found ~ ' limit 1').rows | length > 0 -%}
                    {%- do endangered.append(found ~ " (from " ~ fed_by | join(', ') ~ ")") -%}
                {%- endif -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if endangered -%}
        {{ exceptions.raise_compiler_error(
            "refusing to run: " ~ endangered | join('; ')
            ~ " holds history, but this run would read its source as empty and close every"
            ~ " record as deleted. Load the source again (or fix PEOPLESTACK_SCHEMA_PREFIX), or"
            ~ " leave its snapshots and their models out of this run (--exclude)."
        ) }}
    {%- endif -%}
{%- endmacro %}


{#- The loader sources a node reads, through every model between them. -#}
{% macro upstream_loader_sources(node) -%}
    {%- set found = [] -%}
    {%- set pending = [node.unique_id] -%}
    {%- set seen = [] -%}
    {#- a breadth-first walk; Jinja has no while loop, so the list grows as it is read -#}
    {%- for unique_id in pending -%}
        {%- set current = graph.nodes.get(unique_id) -%}
        {%- if current is not none -%}
            {%- for parent in current.depends_on.nodes -%}
                {%- if parent.startswith('source.') -%}
                    {%- set name = graph.sources[parent].config.meta.get('loader_source') -%}
                    {%- if name and name not in found -%}{%- do found.append(name) -%}{%- endif -%}
                {%- elif parent not in seen -%}
                    {%- do seen.append(parent) -%}
                    {%- do pending.append(parent) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}
