with versions as (
    select * from {{ ref('int_org_unit_versions') }}
),

ancestry as (
    {{ tree_ancestors_over_time(
        'versions', 'org_unit_id', 'parent_org_unit_id', 'valid_from', 'valid_to',
    ) }}
),

ancestors as (
    select
        node_id as org_unit_id,
        ancestor_id as ancestor_org_unit_id,
        distance,
        valid_from,
        valid_to,
        valid_to is null as is_current
    from ancestry
)

select * from ancestors
