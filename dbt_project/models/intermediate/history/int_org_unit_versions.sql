with snapshot as (
    select * from {{ ref('snp_successfactors__org_units') }}
),

versions as (
    {{ scd_versions(
        snapshot='snapshot',
        unique_key='org_unit_id',
        changed_at='took_effect_at',
        observed_at='extracted_at',
        tracked_columns=['org_unit_name', 'parent_org_unit_id', 'head_of_unit_employee_id'],
        carried_columns=['description', 'status_code', 'is_active'],
    ) }}
)

select * from versions
