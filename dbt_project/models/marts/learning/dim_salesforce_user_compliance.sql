{%- set due_soon_days = compliance_due_soon_days() -%}
{#- Without Learning in the warehouse nothing is known about anyone's learning: no rows, since
    a row per user saying `Compliant` would be pushed to Salesforce as a fact. -#}
{%- set learning_is_loaded = (
    raw_table_in_use('successfactors', 'learning_assignments') if execute else true
) -%}

with assignments as (
    select * from {{ ref('fct_learning_assignments') }}
),

persons as (
    select * from {{ ref('dim_person') }}
),

salesforce_users as (
    select * from {{ ref('dim_salesforce_user_scd') }}
    where is_current
),

employees as (
    select * from {{ ref('dim_employee') }}
),

employee_versions as (
    select * from {{ ref('dim_employee_scd') }}
),

-- the day compliance is judged on, the moment it ends (midnight UTC after it) and the last
-- day of the due-soon window
as_of as (
    select
        {{ compliance_as_of_date() }} as as_of_date,
        cast(
            {{ dbt.dateadd('day', 1, compliance_as_of_date()) }} as {{ dbt.type_timestamp() }}
        ) as as_of_ends_at,
        cast(
            {{ dbt.dateadd('day', due_soon_days, compliance_as_of_date()) }} as date
        ) as due_soon_until_date
),

-- a Salesforce user matched to an employee, unless either is part of an ambiguous claim:
-- nothing is written to a user whose identity is in question
matched_persons as (
    select
        person_key,
        employee_id,
        salesforce_user_id
    from persons
    where
        employee_id is not null
        and salesforce_user_id is not null
        and not has_identity_conflict
        and {{ 'true' if learning_is_loaded else 'false' }}
),

-- each person's current state per item: the latest cycle of every required assignment
per_employee as (
    select
        employee_id,
        sum(case when not is_compliant then 1 else 0 end) as overdue_count,
        min(case when status = 'open' then due_date end) as next_due_date,
        min(
            case when is_completed and not is_expired then expires_date end
        ) as certification_expiry_date
    from assignments
    where is_latest_cycle
    group by employee_id
),

employee_history_starts as (
    {{ history_starts('employee_versions', 'employee_id') }}
),

judged as (
    select
        matched_persons.salesforce_user_id,
        matched_persons.person_key,
        matched_persons.employee_id,
        case
            when coalesce(per_employee.overdue_count, 0) > 0 then 'Overdue'
            when
                per_employee.next_due_date <= as_of.due_soon_until_date
                or per_employee.certification_expiry_date <= as_of.due_soon_until_date
                then 'Due soon'
            else 'Compliant'
        end as compliance_status,
        cast(coalesce(per_employee.overdue_count, 0) as {{ dbt.type_int() }}) as overdue_count,
        coalesce(
            salesforce_users.is_active and not salesforce_users.is_deleted, false
        ) as is_salesforce_user_active,
        employee_versions.is_active and not employee_versions.is_deleted as is_employee_active,
        per_employee.next_due_date,
        per_employee.certification_expiry_date,
        as_of.as_of_date,
        employees.learning_last_read_at
    from matched_persons
    cross join as_of
    left join salesforce_users
        on matched_persons.salesforce_user_id = salesforce_users.salesforce_user_id
    left join per_employee
        on matched_persons.employee_id = per_employee.employee_id
    left join employees
        on matched_persons.employee_id = employees.employee_id
    {{ join_version_at(
        'employee_versions', 'employee_history_starts', 'employee_id',
        key='matched_persons.employee_id', moment='as_of.as_of_ends_at',
    ) }}
)

select * from judged
