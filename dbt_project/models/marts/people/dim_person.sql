with employees as (
    select * from {{ ref('dim_employee') }}
),

salesforce_users as (
    select * from {{ ref('dim_salesforce_user_scd') }}
    where is_current
),

matches as (
    select * from {{ ref('int_identity_matches') }}
),

conflicts as (
    select * from {{ ref('int_identity_conflicts') }}
),

conflicted_employees as (
    select distinct employee_id from conflicts
),

conflicted_salesforce_users as (
    select distinct salesforce_user_id from conflicts
),

-- every employee, with the Salesforce user matched to it if any
employee_persons as (
    select
        employees.employee_id,
        matches.salesforce_user_id,
        matches.match_method
    from employees
    left join matches
        on employees.employee_id = matches.employee_id
),

-- Salesforce users matched to no employee: contractors, conflicts, deleted users
salesforce_only_persons as (
    select
        cast(null as {{ dbt.type_string() }}) as employee_id,
        salesforce_users.salesforce_user_id,
        cast(null as {{ dbt.type_string() }}) as match_method
    from salesforce_users
    left join matches
        on salesforce_users.salesforce_user_id = matches.salesforce_user_id
    where matches.salesforce_user_id is null
),

persons as (
    select * from employee_persons
    union all
    select * from salesforce_only_persons
),

described as (
    select
        {{ surrogate_key([
            'persons.employee_id',
            'case when persons.employee_id is null then persons.salesforce_user_id end',
        ]) }} as person_key,
        persons.employee_id,
        persons.salesforce_user_id,
        coalesce(employees.full_name, salesforce_users.name) as full_name,
        coalesce(employees.email, salesforce_users.email) as email,
        persons.match_method,
        persons.employee_id is not null as is_employee,
        persons.salesforce_user_id is not null as has_salesforce_user,
        (
            conflicted_employees.employee_id is not null
            or conflicted_salesforce_users.salesforce_user_id is not null
        ) as has_identity_conflict
    from persons
    left join employees
        on persons.employee_id = employees.employee_id
    left join salesforce_users
        on persons.salesforce_user_id = salesforce_users.salesforce_user_id
    left join conflicted_employees
        on persons.employee_id = conflicted_employees.employee_id
    left join conflicted_salesforce_users
        on persons.salesforce_user_id = conflicted_salesforce_users.salesforce_user_id
)

select * from described
