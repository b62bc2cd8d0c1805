with claims as (
    select * from {{ ref('int_identity_claims') }}
),

matches as (
    select
        salesforce_user_id,
        employee_id,
        match_method
    from claims
    where is_match
)

select * from matches
