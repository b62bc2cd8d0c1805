with base_versions as (
    select * from {{ ref('base_salesforce__user_versions') }}
),

versions as (
    select
        salesforce_user_id,
        manager_salesforce_user_id,
        employee_number,
        federation_identifier,
        username,
        full_name,
        first_name,
        last_name,
        email,
        division,
        department,
        title,
        audit_phase,
        is_active,
        created_at,
        last_modified_at,
        system_modified_at,
        extracted_at,
        load_id,
        raw_row_id
    from base_versions
)

select * from versions
