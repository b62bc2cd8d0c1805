with deletions as (
    select * from {{ ref('base_salesforce__deletions') }}
),

renamed as (
    select
        record_key as salesforce_user_id,
        load_id,
        detected_at
    from deletions
    where resource = 'users'
)

select * from renamed
