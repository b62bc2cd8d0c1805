with versions as (
    select * from {{ ref('int_org_unit_versions') }}
),

current_org_units as (
    select * from {{ ref('stg_successfactors__org_units') }}
),

overlaid as (
    select
        {{ surrogate_key(['versions.org_unit_id', 'versions.valid_from']) }} as org_unit_scd_key,
        versions.org_unit_id,
        versions.parent_org_unit_id,
        versions.head_of_unit_employee_id,
        versions.org_unit_name,
        -- not tracked: current values on every version
        current_org_units.description,
        current_org_units.is_active,
        versions.valid_from,
        versions.valid_to,
        versions.is_current
    from versions
    left join current_org_units
        on versions.org_unit_id = current_org_units.org_unit_id
)

select * from overlaid
