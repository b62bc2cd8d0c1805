{#
    Source timestamps arrive as text exactly as the APIs sent them, or (Learning) as epoch
    milliseconds. These macros turn them into UTC `timestamp` values (without time zone), the
    type every model and snapshot uses.
    Postgres-only SQL sits in `postgres__` implementations; another adapter adds its own.
#}

{#- OData v2 `/Date(1772352000000)/` or `/Date(1772352000000+0000)/`: milliseconds since the
    epoch, already UTC (the optional offset only says which zone the value was entered in). -#}
{% macro odata_date_to_timestamp(column) -%}
    {{ epoch_milliseconds_to_timestamp(odata_epoch_milliseconds(column)) }}
{%- endmacro %}


{#- Milliseconds since the epoch as a number (SuccessFactors Learning, OData v4, lands them as
    `bigint`): already UTC. -#}
{% macro epoch_milliseconds_to_timestamp(column) -%}
    {{ dbt.dateadd(
        'millisecond',
        column,
        "cast('1970-01-01 00:00:00' as " ~ dbt.type_timestamp() ~ ")"
    ) }}
{%- endmacro %}


{#- The same, as a calendar date (hire dates and effective dates carry no time of day). -#}
{% macro odata_date_to_date(column) -%}
    cast({{ odata_date_to_timestamp(column) }} as date)
{%- endmacro %}


{% macro odata_epoch_milliseconds(column) -%}
    {{ return(adapter.dispatch('odata_epoch_milliseconds')(column)) }}
{%- endmacro %}

{% macro default__odata_epoch_milliseconds(column) -%}
    {#- `/Date(ms)/` and `/Date(ms+hhmm)/`; a negative offset needs the adapter's regex. -#}
    {%- set inside_parentheses = dbt.split_part(dbt.split_part(column, "'('", 2), "')'", 1) -%}
    cast({{ dbt.split_part(inside_parentheses, "'+'", 1) }} as {{ dbt.type_bigint() }})
{%- endmacro %}

{% macro postgres__odata_epoch_milliseconds(column) -%}
    cast(substring({{ column }} from '^/Date\((-?[0-9]+)') as {{ dbt.type_bigint() }})
{%- endmacro %}


{#- Salesforce REST datetimes, e.g. `2026-03-02T08:01:07.000+0000`. -#}
{% macro salesforce_datetime_to_timestamp(column) -%}
    {{ return(adapter.dispatch('salesforce_datetime_to_timestamp')(column)) }}
{%- endmacro %}

{% macro default__salesforce_datetime_to_timestamp(column) -%}
    {{ to_utc_timestamp('cast(' ~ column ~ ' as timestamp with time zone)') }}
{%- endmacro %}


{#- A `timestamp with time zone` expression as a UTC `timestamp` (STYLE: snapshots compare
    `updated_at` with their own clock, which is a plain timestamp). -#}
{% macro to_utc_timestamp(expression) -%}
    {{ return(adapter.dispatch('to_utc_timestamp')(expression)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(expression) -%}
    {{ exceptions.raise_compiler_error(
        "to_utc_timestamp has no implementation for adapter " ~ adapter.type()
        ~ ": add " ~ adapter.type() ~ "__to_utc_timestamp to dbt_project/macros/timestamps.sql"
    ) }}
{%- endmacro %}

{% macro postgres__to_utc_timestamp(expression) -%}
    ({{ expression }} at time zone 'UTC')
{%- endmacro %}


{#- Now, as a UTC timestamp: when dbt recorded something (while the snapshots are rebuilt
    from the raw change log, when the replayed loads committed: macros/history_replay.sql). -#}
{% macro current_utc_timestamp() -%}
    {%- set replay = history_replay() -%}
    {%- if replay -%}
        cast('{{ replay.at }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        {{ to_utc_timestamp(dbt.current_timestamp()) }}
    {%- endif -%}
{%- endmacro %}


{#- dbt-postgres stamps snapshot rows (deletions) with `now()::timestamp`, i.e. in the session's
    time zone. Every other timestamp in this project is UTC, so the snapshot clock is too. -#}
{% macro postgres__snapshot_get_time() -%}
    {{ current_utc_timestamp() }}
{%- endmacro %}
