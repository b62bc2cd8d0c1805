{#
    Hints for a model whose plan the database's estimates get wrong, given as a `pre_hook` that
    holds for the model's own transaction only.

    The `stg_` views pick each record's latest version with a window and a filter on its rank;
    Postgres estimates such a view at a row or so, whatever its size, and joins two of them with
    a nested loop: every Salesforce user compared with every employee, quadratic (66 s at the
    medium demo scale, hours at 200,000 users). Without nested loops it hashes them (1 s).
#}
{% macro planner_avoids_nested_loops() -%}
    {{ return(adapter.dispatch('planner_avoids_nested_loops')()) }}
{%- endmacro %}

{#- Other engines plan joins of this shape with hashes on their own: no hint. -#}
{% macro default__planner_avoids_nested_loops() -%}
{%- endmacro %}

{% macro postgres__planner_avoids_nested_loops() -%}
    set local enable_nestloop = off
{%- endmacro %}
