with source as (
    select * from {{ raw_table('successfactors', 'users') }}
),

renamed as (
    select
        trim(user_id) as employee_id,
        nullif(trim(manager_user_id), '') as manager_employee_id,
        nullif(trim(username), '') as username,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        lower(nullif(trim(email), '')) as email,
        nullif(trim(department), '') as department,
        nullif(trim(division), '') as division,
        nullif(trim(location), '') as location,
        nullif(trim(title), '') as title,
        nullif(trim(status), '') as status_code,
        -- `t`/`T` are active; `f`, `F`, `e`, `d` and anything else count as inactive
        coalesce(trim(status) in ('t', 'T'), false) as is_active,
        {{ odata_date_to_date('hire_date') }} as hire_date,
        {{ odata_date_to_timestamp('last_modified_date_time') }} as last_modified_at,
        {{ to_utc_timestamp('_extracted_at') }} as extracted_at,
        _dlt_load_id as load_id,
        _dlt_id as raw_row_id
    from source
)

select * from renamed
