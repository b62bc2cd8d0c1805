with versions as (
    select * from {{ ref('int_org_unit_versions') }}
),

ancestry as (
    {{ tree_ancestors_over_time(
        'versions', 'org_unit_id', 'parent_org_unit_id', 'valid_from', 'valid_to',
    ) }}
),

-- the walk reached a top-level unit: that row says where the unit sat, and when
placements as (
    select
        node_id as org_unit_id,
        ancestor_id as top_org_unit_id,
        id_path as org_unit_id_path,
        distance as hierarchy_depth,
        valid_from,
        valid_to
    from ancestry
    where ancestor_parent_id is null
),

-- versions of units elsewhere in the chain (a rename, a new head) split placements without
-- changing them: merge consecutive equal placements (gaps and islands)
compared as (
    select
        *,
        case
            when
                lag(org_unit_id_path) over (partition by org_unit_id order by valid_from)
                = org_unit_id_path
                and lag(valid_to) over (partition by org_unit_id order by valid_from)
                = valid_from
                then 0
            else 1
        end as starts_island
    from placements
),

islands as (
    select
        *,
        sum(starts_island) over (
            partition by org_unit_id order by valid_from rows unbounded preceding
        ) as island_number
    from compared
),

merged as (
    select
        org_unit_id,
        top_org_unit_id,
        org_unit_id_path,
        hierarchy_depth,
        min(valid_from) as valid_from,
        {#- an open end (null) wins over any closed one -#}
        case
            when count(*) = count(valid_to) then max(valid_to)
        end as valid_to
    from islands
    group by org_unit_id, island_number, top_org_unit_id, org_unit_id_path, hierarchy_depth
),

final as (
    select
        *,
        valid_to is null as is_current
    from merged
)

select * from final
