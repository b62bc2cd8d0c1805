with source as (
    select * from {{ optional_source('successfactors', 'deletions', {
        'resource': dbt.type_string(),
        'record_key': dbt.type_string(),
        'detected_at': 'timestamp with time zone',
        '_dlt_load_id': dbt.type_string(),
    }) }}
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
