{#
    Every (node, ancestor) pair of a parent-child tree, the node itself included at distance 0.

    `relation` is a relation or CTE name with one row per node; `id_column` and
    `parent_column` name its key and its parent's key (null at the top). A parent that does not
    exist ends the walk; so does a cycle (a node already on the path) and `max_depth`.
    Returns a complete `select` (it may be used as a CTE body) with columns
    `node_id`, `ancestor_id`, `distance`.

    Recursion is spelled differently by each engine, hence the dispatch.
#}
{% macro tree_ancestors(relation, id_column, parent_column, max_depth=50) -%}
    {{ return(adapter.dispatch('tree_ancestors')(relation, id_column, parent_column, max_depth)) }}
{%- endmacro %}

{% macro default__tree_ancestors(relation, id_column, parent_column, max_depth) -%}
    {{ exceptions.raise_compiler_error(
        "tree_ancestors has no implementation for adapter " ~ adapter.type()
        ~ ": add " ~ adapter.type() ~ "__tree_ancestors to dbt_project/macros/hierarchy.sql"
    ) }}
{%- endmacro %}

{% macro postgres__tree_ancestors(relation, id_column, parent_column, max_depth) -%}
    with recursive walk as (
        select
            {{ id_column }} as node_id,
            {{ id_column }} as ancestor_id,
            {{ parent_column }} as next_ancestor_id,
            0 as distance,
            cast('/' || {{ id_column }} || '/' as text) as visited
        from {{ relation }}

        union all

        select
            walk.node_id,
            parents.{{ id_column }} as ancestor_id,
            parents.{{ parent_column }} as next_ancestor_id,
            walk.distance + 1 as distance,
            walk.visited || parents.{{ id_column }} || '/' as visited
        from walk
        inner join {{ relation }} as parents
            on walk.next_ancestor_id = parents.{{ id_column }}
        where
            position('/' || parents.{{ id_column }} || '/' in walk.visited) = 0
            and walk.distance < {{ max_depth }}
    )

    select
        node_id,
        ancestor_id,
        distance
    from walk
{%- endmacro %}


{#
    The same walk through a tree whose nodes have versions: `relation` holds one row per
    version of a node, valid over [`valid_from_column`, `valid_to_column`) (null = open).
    A node reaches a parent through every version of the parent that overlaps it; each row
    is valid over the intersection of the versions on its path. So the rows valid at a time
    `t` are the node's ancestors in the tree as it was at `t`. Returns a complete `select`
    with `node_id`, `ancestor_id`, `ancestor_parent_id` (null: the ancestor is a top),
    `distance`, `id_path` (codes from the ancestor down to the node, `/`-joined),
    `valid_from`, `valid_to`.
#}
{% macro tree_ancestors_over_time(
    relation, id_column, parent_column, valid_from_column, valid_to_column, max_depth=50
) -%}
    {{ return(adapter.dispatch('tree_ancestors_over_time')(
        relation, id_column, parent_column, valid_from_column, valid_to_column, max_depth
    )) }}
{%- endmacro %}

{% macro default__tree_ancestors_over_time(
    relation, id_column, parent_column, valid_from_column, valid_to_column, max_depth
) -%}
    {{ exceptions.raise_compiler_error(
        "tree_ancestors_over_time has no implementation for adapter " ~ adapter.type()
        ~ ": add " ~ adapter.type() ~ "__tree_ancestors_over_time to dbt_project/macros/hierarchy.sql"
    ) }}
{%- endmacro %}

{% macro postgres__tree_ancestors_over_time(
    relation, id_column, parent_column, valid_from_column, valid_to_column, max_depth
) -%}
    with recursive walk as (
        select
            {{ id_column }} as node_id,
            {{ id_column }} as ancestor_id,
            {{ parent_column }} as ancestor_parent_id,
            0 as distance,
            cast({{ id_column }} as text) as id_path,
            {{ valid_from_column }} as valid_from,
            {{ valid_to_column }} as valid_to
        from {{ relation }}

        union all

        select
            walk.node_id,
            parents.{{ id_column }} as ancestor_id,
            parents.{{ parent_column }} as ancestor_parent_id,
            walk.distance + 1 as distance,
            parents.{{ id_column }} || '/' || walk.id_path as id_path,
            -- greatest/least skip nulls in Postgres: an open end stays open
            greatest(walk.valid_from, parents.{{ valid_from_column }}) as valid_from,
            least(walk.valid_to, parents.{{ valid_to_column }}) as valid_to
        from walk
        inner join {{ relation }} as parents
            on
                walk.ancestor_parent_id = parents.{{ id_column }}
                and (walk.valid_to is null or parents.{{ valid_from_column }} < walk.valid_to)
                and (
                    parents.{{ valid_to_column }} is null
                    or walk.valid_from < parents.{{ valid_to_column }}
                )
        where
            position('/' || parents.{{ id_column }} || '/' in '/' || walk.id_path || '/') = 0
            and walk.distance < {{ max_depth }}
    )

    select
        node_id,
        ancestor_id,
        ancestor_parent_id,
        distance,
        id_path,
        valid_from,
        valid_to
    from walk
{%- endmacro %}
