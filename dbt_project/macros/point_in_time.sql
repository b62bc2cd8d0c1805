{#
    Point-in-time lookups on the history dimensions (`dim_*_scd`, `int_*_versions`,
    `int_org_unit_*_history`): which version was in effect at a moment.
#}

{#- The condition that a row of `relation` (with `valid_from`, `valid_to`) is in effect at
    `moment`: periods are half-open, an open `valid_to` (null) runs forever. Give `moment`
    clamped to the key's first `valid_from` (`greatest(...)`) to let the earliest version stand
    in for the time before anything was observed, and flag the rows where that happened. -#}
{% macro valid_at(relation, moment) -%}
    (
        {{ relation }}.valid_from <= {{ moment }}
        and ({{ relation }}.valid_to is null or {{ moment }} < {{ relation }}.valid_to)
    )
{%- endmacro %}


{#- The first `valid_from` of each key of a history (`relation`, with `key_column` and
    `valid_from`; `where` filters its rows): from when the earliest version stands in for the
    time before anything was observed. Returns a complete `select` with `key_column` and
    `first_valid_from`, for a CTE that `join_version_at` joins. -#}
{% macro history_starts(relation, key_column, where=none) -%}
    select
        {{ key_column }},
        min(valid_from) as first_valid_from
    from {{ relation }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
    group by {{ key_column }}
{%- endmacro %}


{#- Joins to a history (`versions`, a relation or CTE with `key_column`, `valid_from`,
    `valid_to`) the version of the key `key` (an expression) in effect at `moment`, or the
    earliest version when `moment` is before it: first `starts` (the key's
    `history_starts`, so `starts.first_valid_from` tells whether the earliest version stood
    in), then `versions`. `join_type` is `left` (keep rows without a version) or `inner`. -#}
{% macro join_version_at(versions, starts, key_column, key, moment, join_type='left') -%}
    {%- if join_type not in ('left', 'inner') -%}
        {{ exceptions.raise_compiler_error(
            "join_version_at: join_type must be 'left' or 'inner', not '" ~ join_type ~ "'"
        ) }}
    {%- endif -%}
    {{ join_type }} join {{ starts }}
        on {{ key }} = {{ starts }}.{{ key_column }}
    {{ join_type }} join {{ versions }}
        on
            {{ key }} = {{ versions }}.{{ key_column }}
            and {{ valid_at(
                versions, 'greatest(' ~ moment ~ ', ' ~ starts ~ '.first_valid_from)'
            ) }}
{%- endmacro %}
