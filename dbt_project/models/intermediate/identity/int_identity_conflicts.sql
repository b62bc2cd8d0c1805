with claims as (
    select * from {{ ref('int_identity_claims') }}
),

conflicts as (
    select
        salesforce_user_id,
        employee_id,
        match_method,
        conflict_reason
    from claims
    where not is_match
)

select * from conflicts
