{#
    A source table that may not exist yet. The loader creates `deletions` only after its first
    full refresh; until then an empty relation with the same columns stands in, so the
    project builds from the very first load. `empty_columns` maps column name to SQL type.
    Calling `source()` here keeps the table in the lineage and in source freshness.
#}
{% macro optional_source(source_name, table_name, empty_columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set found = none -%}
    {%- if execute -%}
        {%- set found = adapter.get_relation(
            database=relation.database,
            schema=relation.schema,
            identifier=relation.identifier,
        ) -%}
    {%- endif -%}
    {%- if found is not none or not execute -%}
        {{ relation }}
    {%- else -%}
        (
            select
            {%- for name, data_type in empty_columns.items() %}
                cast(null as {{ data_type }}) as {{ name }}{{ "," if not loop.last }}
            {%- endfor %}
            where 1 = 0
        ) as missing_{{ table_name }}
    {%- endif -%}
{%- endmacro %}
