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
