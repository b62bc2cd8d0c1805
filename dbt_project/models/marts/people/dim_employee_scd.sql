with versions as (
    select * from {{ ref('int_employee_versions') }}
),

org_units as (
    select * from {{ ref('stg_successfactors__org_units') }}
),

resolved as (
    select
        {{ surrogate_key(['versions.employee_id', 'versions.valid_from']) }} as employee_scd_key,
        versions.employee_id,
        versions.manager_employee_id,
        org_units.org_unit_id,
        versions.department,
        versions.division,
        versions.location,
        versions.title,
        versions.is_active,
        versions.is_deleted,
        versions.valid_from,
        versions.valid_to,
        versions.is_current
    from versions
    left join org_units
        on versions.department = org_units.org_unit_id
)

select * from resolved
