with source as (
    select * from {{ raw_table('successfactors', 'deletions') }}
),

renamed as (
    select
        trim(record_key) as employee_id,
        _dlt_load_id as load_id,
        {{ to_utc_timestamp('detected_at') }} as detected_at
    from source
    where resource = 'users'
)

select * from renamed
