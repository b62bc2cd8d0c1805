with source as (
    select * from {{ raw_table('successfactors', 'learning_assignments') }}
),

renamed as (
    select
        trim(user_id) as employee_id,
        trim(component_type_id) as component_type_id,
        trim(component_id) as component_id,
        component_key,
        nullif(trim(component_type_desc), '') as component_type_description,
        nullif(trim(revision_number), '') as revision_number,
        nullif(trim(title), '') as title,
        nullif(trim(description), '') as description,
        nullif(trim(requirement_type_id), '') as requirement_type_id,
        nullif(trim(requirement_type_description), '') as requirement_type_description,
        nullif(trim(add_user), '') as added_by,
        component_length as component_length_hours,
        credit_hours,
        cpe_hours,
        contact_hours,
        days_remaining,
        is_required,
        {{ epoch_milliseconds_to_timestamp('assigned_date') }} as assigned_at,
        {{ epoch_milliseconds_to_timestamp('required_date') }} as due_at,
        {{ epoch_milliseconds_to_timestamp('revision_date') }} as revised_at,
        {{ to_utc_timestamp('_extracted_at') }} as extracted_at,
        _dlt_load_id as load_id,
        _dlt_id as raw_row_id
    from source
)

select * from renamed
