{#
    Rebuilding an incremental fact's rows for a range of days (README, "Backfill and
    replay"): `dbt build --vars '{rebuild_from: 2026-03-01, rebuild_until: 2026-03-31}'`.

    An incremental build always rebuilds the rows whose inputs changed; with either var set
    it also rebuilds every row whose day falls in the range (both ends included, either end
    open when its var is unset), from the same inputs and by the same SQL as the daily path,
    so they come out as the daily path builds them. Rows lost or damaged in the table are
    replaced (delete+insert by the fact's key). The tables rebuilt in full on every build
    need no range: any build rebuilds them.
#}

{#- The range as {from, until} (YYYY-MM-DD text, none when open), or none when unset. -#}
{% macro rebuild_range() -%}
    {%- set bounds = {} -%}
    {%- for name in ['rebuild_from', 'rebuild_until'] -%}
        {%- set configured = var(name, none) -%}
        {%- set text = none if configured is none else configured | string | trim -%}
        {%- if text and not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
            {{ exceptions.raise_compiler_error(
                "the " ~ name ~ " var must be a date written YYYY-MM-DD, not '" ~ text ~ "'"
            ) }}
        {%- endif -%}
        {%- do bounds.update({name[8:]: text or none}) -%}
    {%- endfor -%}
    {%- if bounds['from'] is none and bounds['until'] is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if bounds['from'] and bounds['until'] and bounds['from'] > bounds['until'] -%}
        {{ exceptions.raise_compiler_error(
            "rebuild_from (" ~ bounds['from'] ~ ") is after rebuild_until ("
            ~ bounds['until'] ~ ")"
        ) }}
    {%- endif -%}
    {{ return(bounds) }}
{%- endmacro %}


{#- A condition true when the SQL date `day` is in the range (false when no range is set). -#}
{% macro in_rebuild_range(day) -%}
    {%- set bounds = rebuild_range() -%}
    {%- if bounds is none -%}
        false
    {%- else -%}
        ({{ day }} is not null
        {%- if bounds['from'] %} and {{ day }} >= cast('{{ bounds["from"] }}' as date){% endif %}
        {%- if bounds['until'] %} and {{ day }} <= cast('{{ bounds["until"] }}' as date){% endif -%}
        )
    {%- endif -%}
{%- endmacro %}
