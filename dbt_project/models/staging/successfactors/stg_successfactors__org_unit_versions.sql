with base_versions as (
    select * from {{ ref('base_successfactors__org_unit_versions') }}
),

versions as (
    select
        org_unit_id,
        parent_org_unit_id,
        head_of_unit_employee_id,
        org_unit_name,
        description,
        status_code,
        is_active,
        effective_start_date,
        effective_end_date,
        last_modified_at,
        extracted_at,
        load_id,
        raw_row_id
    from base_versions
)

select * from versions
