with source as (
    select * from {{ raw_table('successfactors', 'org_units') }}
),

renamed as (
    select
        trim(external_code) as org_unit_id,
        nullif(trim(parent), '') as parent_org_unit_id,
        nullif(trim(head_of_unit), '') as head_of_unit_employee_id,
        nullif(trim(name), '') as org_unit_name,
        nullif(trim(description), '') as description,
        nullif(trim(status), '') as status_code,
        coalesce(trim(status) = 'A', false) as is_active,
        {{ odata_date_to_date('start_date') }} as effective_start_date,
        {{ odata_date_to_date('end_date') }} as effective_end_date,
        {{ odata_date_to_timestamp('last_modified_date_time') }} as last_modified_at,
        {{ to_utc_timestamp('_extracted_at') }} as extracted_at,
        _dlt_load_id as load_id,
        _dlt_id as raw_row_id
    from source
)

select * from renamed
