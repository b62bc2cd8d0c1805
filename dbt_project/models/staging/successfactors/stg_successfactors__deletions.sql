with deletions as (
    select * from {{ ref('base_successfactors__deletions') }}
),

renamed as (
    select
        record_key as employee_id,
        load_id,
        detected_at
    from deletions
    where resource = 'users'
)

select * from renamed
