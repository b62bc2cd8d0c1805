with org_units as (
    select * from {{ ref('stg_successfactors__org_units') }}
),

ancestors as (
    select * from {{ ref('int_org_unit_ancestors') }}
),

depths as (
    select
        org_unit_id,
        max(distance) as hierarchy_depth
    from ancestors
    group by org_unit_id
),

tops as (
    select
        ancestors.org_unit_id,
        ancestors.ancestor_org_unit_id as top_org_unit_id,
        ancestors.ancestor_org_unit_name as top_org_unit_name,
        -- the walk ended at a real top (no parent), not at a missing parent or a cycle
        top_units.parent_org_unit_id is null as is_parent_chain_complete
    from ancestors
    inner join depths
        on
            ancestors.org_unit_id = depths.org_unit_id
            and ancestors.distance = depths.hierarchy_depth
    inner join org_units as top_units
        on ancestors.ancestor_org_unit_id = top_units.org_unit_id
),

paths as (
    select
        org_unit_id,
        {{ dbt.listagg(
            "coalesce(ancestor_org_unit_name, ancestor_org_unit_id)",
            "' > '",
            "order by distance desc",
        ) }} as org_unit_path,
        {{ dbt.listagg(
            "ancestor_org_unit_id", "'/'", "order by distance desc",
        ) }} as org_unit_id_path
    from ancestors
    group by org_unit_id
),

hierarchy as (
    select
        org_units.org_unit_id,
        tops.top_org_unit_id,
        tops.top_org_unit_name,
        paths.org_unit_path,
        paths.org_unit_id_path,
        depths.hierarchy_depth,
        tops.is_parent_chain_complete
    from org_units
    inner join depths
        on org_units.org_unit_id = depths.org_unit_id
    inner join tops
        on org_units.org_unit_id = tops.org_unit_id
    inner join paths
        on org_units.org_unit_id = paths.org_unit_id
)

select * from hierarchy
