{#
    Models land in exactly the schema their folder names (staging, snapshots, intermediate,
    marts), not dbt's default `<target schema>_<custom schema>`. Isolated CI or pull-request
    runs opt into a prefix with PEOPLESTACK_SCHEMA_PREFIX (e.g. `pr123_marts`); the loader
    reads the same variable for its raw and ops schemas.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set prefix = schema_prefix() -%}
    {%- set base = custom_schema_name | trim if custom_schema_name else target.schema -%}
    {%- if prefix -%}{{ prefix }}_{{ base }}{%- else -%}{{ base }}{%- endif -%}
{%- endmacro %}

{#
    PEOPLESTACK_SCHEMA_PREFIX, refused at parse time unless it is a plain lowercase word:
    it becomes part of schema names in SQL, and a quote in it would run as SQL. The same
    rule as the loader's (ingest/config.py): `[a-z_][a-z0-9_]*`, not `pg_...`, at most 36
    characters so every schema built from it fits Postgres' 63.
#}
{% macro schema_prefix() -%}
    {%- set prefix = env_var('PEOPLESTACK_SCHEMA_PREFIX', '') | trim -%}
    {%- if prefix and (
        not modules.re.fullmatch('[a-z_][a-z0-9_]*', prefix)
        or prefix.startswith('pg_')
        or prefix | length > 36
    ) -%}
        {{ exceptions.raise_compiler_error(
            "PEOPLESTACK_SCHEMA_PREFIX must be lowercase letters, digits and underscores,"
            ~ " starting with a letter or underscore (not pg_), at most 36 characters, not "
            ~ tojson(prefix)
        ) }}
    {%- endif -%}
    {{ return(prefix) }}
{%- endmacro %}
