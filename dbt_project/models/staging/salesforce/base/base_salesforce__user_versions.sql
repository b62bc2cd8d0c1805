with source as (
    select * from {{ raw_table('salesforce', 'users') }}
),

renamed as (
    select
        trim(id) as salesforce_user_id,
        nullif(trim(manager_id), '') as manager_salesforce_user_id,
        nullif(trim(employee_number), '') as employee_number,
        nullif(trim(federation_identifier), '') as federation_identifier,
        nullif(trim(username), '') as username,
        nullif(trim(name), '') as full_name,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        lower(nullif(trim(email), '')) as email,
        nullif(trim(division), '') as division,
        nullif(trim(department), '') as department,
        nullif(trim(title), '') as title,
        nullif(trim(audit_phase_c), '') as audit_phase,
        is_active,
        {{ salesforce_datetime_to_timestamp('created_date') }} as created_at,
        {{ salesforce_datetime_to_timestamp('last_modified_date') }} as last_modified_at,
        {{ salesforce_datetime_to_timestamp('system_modstamp') }} as system_modified_at,
        {{ to_utc_timestamp('_extracted_at') }} as extracted_at,
        _dlt_load_id as load_id,
        _dlt_id as raw_row_id
    from source
)

select * from renamed
