with source as (
    select * from {{ raw_table('successfactors', 'learning_completions') }}
),

renamed as (
    select
        trim(student_component_id) as completion_id,
        trim(target_user_id) as employee_id,
        trim(component_type_id) as component_type_id,
        trim(component_id) as component_id,
        nullif(trim(component_key), '') as component_key,
        nullif(trim(revision_number), '') as revision_number,
        nullif(trim(title), '') as title,
        nullif(trim(completion_status_id), '') as completion_status_id,
        nullif(trim(completion_status_desc), '') as completion_status_description,
        nullif(trim(grade), '') as grade,
        credit_hours,
        cpe_hours,
        contact_hours,
        total_hours,
        -- a status that gives credit is a successful completion; failed or incomplete ones do not
        coalesce(provide_credit, false) as is_successful,
        {{ epoch_milliseconds_to_timestamp('completion_date') }} as completed_at,
        {{ epoch_milliseconds_to_timestamp('revision_date') }} as revised_at,
        {{ epoch_milliseconds_to_timestamp('last_update_timestamp') }} as last_updated_at,
        {{ to_utc_timestamp('_extracted_at') }} as extracted_at,
        _dlt_load_id as load_id,
        _dlt_id as raw_row_id
    from source
)

select * from renamed
