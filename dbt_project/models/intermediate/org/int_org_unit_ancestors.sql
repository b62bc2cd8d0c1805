with org_units as (
    select * from {{ ref('stg_successfactors__org_units') }}
),

ancestry as (
    {{ tree_ancestors('org_units', 'org_unit_id', 'parent_org_unit_id') }}
),

named as (
    select
        ancestry.node_id as org_unit_id,
        ancestry.ancestor_id as ancestor_org_unit_id,
        ancestors.org_unit_name as ancestor_org_unit_name,
        ancestry.distance
    from ancestry
    inner join org_units as ancestors
        on ancestry.ancestor_id = ancestors.org_unit_id
)

select * from named
