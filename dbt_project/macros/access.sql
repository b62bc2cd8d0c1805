{#
    Analysts read `marts` and nothing else. Table privileges come from dbt `grants` on the
    marts (_people__models.yml); these macros add what `grants` cannot: the role itself
    (on-run-start) and USAGE on the marts schema (on-run-end).
#}

{#- Create a NOLOGIN role when it is missing; people log in with their own roles and are
    granted this one. Needs CREATEROLE only the first time. -#}
{% macro ensure_role(role) -%}
    {{ return(adapter.dispatch('ensure_role')(role)) }}
{%- endmacro %}

{% macro default__ensure_role(role) -%}
    {{ exceptions.raise_compiler_error("ensure_role has no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro postgres__ensure_role(role) -%}
    do $ensure_role$
    begin
        if not exists (select from pg_catalog.pg_roles where rolname = '{{ role }}') then
            create role {{ adapter.quote(role) }} nologin;
        end if;
    exception
        -- another run created it in the meantime
        when duplicate_object or unique_violation then null;
    end
    $ensure_role$
{%- endmacro %}


{#- USAGE on a schema, if the schema exists (a run may have built nothing there yet). -#}
{% macro grant_schema_usage(schema, role) -%}
    {%- if execute and adapter.check_schema_exists(target.database, schema) -%}
        {{ return(adapter.dispatch('grant_schema_usage')(schema, role)) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{% macro default__grant_schema_usage(schema, role) -%}
    grant usage on schema {{ adapter.quote(schema) }} to {{ adapter.quote(role) }}
{%- endmacro %}
