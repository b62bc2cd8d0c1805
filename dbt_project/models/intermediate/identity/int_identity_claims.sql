{#- Joins two staging views, which Postgres estimates at a row or so: macros/planner.sql. -#}
{{ config(pre_hook="{{ planner_avoids_nested_loops() }}") }}

with salesforce_users as (
    select * from {{ ref('stg_salesforce__users') }}
),

employees as (
    select * from {{ ref('stg_successfactors__users') }}
),

-- FederationIdentifier holds either the employee's userId or e-mail, in any case
federation_claims as (
    select
        salesforce_users.salesforce_user_id,
        employees.employee_id
    from salesforce_users
    inner join employees
        on lower(salesforce_users.federation_identifier) = lower(employees.employee_id)

    union distinct

    select
        salesforce_users.salesforce_user_id,
        employees.employee_id
    from salesforce_users
    inner join employees
        on lower(salesforce_users.federation_identifier) = employees.email
),

-- every claim a Salesforce user makes on an employee, by each rule, strongest rule first
claims as (
    select
        salesforce_users.salesforce_user_id,
        employees.employee_id,
        1 as rule_rank,
        'employee_number' as match_method
    from salesforce_users
    inner join employees
        on salesforce_users.employee_number = employees.employee_id

    union all

    select
        federation_claims.salesforce_user_id,
        federation_claims.employee_id,
        2 as rule_rank,
        'federation_identifier' as match_method
    from federation_claims

    union all

    select
        salesforce_users.salesforce_user_id,
        employees.employee_id,
        3 as rule_rank,
        'email' as match_method
    from salesforce_users
    inner join employees
        on salesforce_users.email = employees.email
),

ranked_claims as (
    select
        *,
        min(rule_rank) over (partition by salesforce_user_id) as strongest_rule_rank
    from claims
),

-- a Salesforce user is judged by its strongest rule only; weaker claims are ignored
decisive_claims as (
    select * from ranked_claims
    where rule_rank = strongest_rule_rank
),

counted as (
    select
        salesforce_user_id,
        employee_id,
        rule_rank,
        match_method,
        count(*) over (partition by salesforce_user_id) as employees_claimed,
        min(rule_rank) over (partition by employee_id) as employee_strongest_rule_rank,
        count(*) over (partition by employee_id, rule_rank) as claimants_by_same_rule
    from decisive_claims
),

resolved as (
    select
        salesforce_user_id,
        employee_id,
        match_method,
        rule_rank,
        case
            when employees_claimed > 1
                then 'the Salesforce user matches several employees by ' || match_method
            when rule_rank > employee_strongest_rule_rank
                then 'the employee is claimed by another Salesforce user through a stronger rule'
            when claimants_by_same_rule > 1
                then 'the employee is claimed by several Salesforce users by ' || match_method
        end as conflict_reason
    from counted
),

final as (
    select
        salesforce_user_id,
        employee_id,
        match_method,
        conflict_reason,
        rule_rank,
        conflict_reason is null as is_match
    from resolved
)

select * from final
