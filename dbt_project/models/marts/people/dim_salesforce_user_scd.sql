with versions as (
    select * from {{ ref('int_salesforce_user_versions') }}
),

current_users as (
    select * from {{ ref('stg_salesforce__users') }}
),

-- name and e-mail are not tracked: every version shows the current values, or for a
-- deleted user the last values the warehouse recorded
last_recorded as (
    select
        salesforce_user_id,
        full_name,
        email
    from versions
    where is_current
),

overlaid as (
    select
        {{ surrogate_key([
            'versions.salesforce_user_id', 'versions.valid_from',
        ]) }} as salesforce_user_scd_key,
        versions.salesforce_user_id,
        case
            when current_users.salesforce_user_id is not null then current_users.full_name
            else last_recorded.full_name
        end as name,
        case
            when current_users.salesforce_user_id is not null then current_users.email
            else last_recorded.email
        end as email,
        versions.division,
        versions.audit_phase,
        versions.is_active,
        versions.is_deleted,
        versions.valid_from,
        versions.valid_to,
        versions.is_current
    from versions
    left join current_users
        on versions.salesforce_user_id = current_users.salesforce_user_id
    left join last_recorded
        on versions.salesforce_user_id = last_recorded.salesforce_user_id
)

select * from overlaid
