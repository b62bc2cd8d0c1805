with org_units as (
    select * from {{ ref('stg_successfactors__org_units') }}
),

hierarchy as (
    select * from {{ ref('int_org_unit_hierarchy') }}
),

described as (
    select
        org_units.org_unit_id,
        org_units.parent_org_unit_id,
        hierarchy.top_org_unit_id,
        org_units.head_of_unit_employee_id,
        org_units.org_unit_name,
        parents.org_unit_name as parent_org_unit_name,
        hierarchy.top_org_unit_name,
        org_units.description,
        hierarchy.org_unit_path,
        hierarchy.org_unit_id_path,
        org_units.status_code,
        hierarchy.hierarchy_depth,
        org_units.is_active,
        hierarchy.is_parent_chain_complete,
        org_units.effective_start_date,
        org_units.effective_end_date,
        org_units.last_modified_at
    from org_units
    left join hierarchy
        on org_units.org_unit_id = hierarchy.org_unit_id
    left join org_units as parents
        on org_units.parent_org_unit_id = parents.org_unit_id
)

select * from described
