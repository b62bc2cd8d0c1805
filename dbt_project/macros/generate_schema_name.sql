{#
    Models land in exactly the schema their folder names (staging, snapshots, intermediate,
    marts), not dbt's default `<target schema>_<custom schema>`. Isolated CI or pull-request
    runs opt into a prefix with PEOPLESTACK_SCHEMA_PREFIX (e.g. `pr123_marts`); the loader
    reads the same variable for its raw and ops schemas.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set prefix = env_var('PEOPLESTACK_SCHEMA_PREFIX', '') | trim -%}
    {%- set base = custom_schema_name | trim if custom_schema_name else target.schema -%}
    {%- if prefix -%}{{ prefix }}_{{ base }}{%- else -%}{{ base }}{%- endif -%}
{%- endmacro %}
