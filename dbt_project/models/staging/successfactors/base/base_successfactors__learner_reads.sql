with source as (
    select * from {{ raw_table('successfactors', 'learner_reads') }}
),

renamed as (
    select
        trim(user_id) as employee_id,
        -- `resource` is the loader's column name (a keyword to sqlfluff, not to Postgres)
        trim(resource) as resource,  -- noqa: RF04
        trim(outcome) as outcome,
        {{ to_utc_timestamp('read_at') }} as read_at,
        {{ to_utc_timestamp('_extracted_at') }} as extracted_at,
        _dlt_load_id as load_id,
        _dlt_id as raw_row_id
    from source
)

select * from renamed
