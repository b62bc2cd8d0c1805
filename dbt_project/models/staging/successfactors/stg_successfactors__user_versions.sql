with base_versions as (
    select * from {{ ref('base_successfactors__user_versions') }}
),

versions as (
    select
        employee_id,
        manager_employee_id,
        username,
        first_name,
        last_name,
        email,
        department,
        division,
        location,
        title,
        status_code,
        is_active,
        hire_date,
        last_modified_at,
        extracted_at,
        load_id,
        raw_row_id
    from base_versions
)

select * from versions
