with current_employees as (
    select * from {{ ref('stg_successfactors__users') }}
),

versions as (
    select * from {{ ref('int_employee_versions') }}
),

org_units as (
    select * from {{ ref('dim_org_unit') }}
),

learner_reads as (
    select * from {{ ref('stg_successfactors__learner_reads') }}
),

present as (
    select
        employee_id,
        manager_employee_id,
        username,
        first_name,
        last_name,
        email,
        department,
        division,
        location,
        title,
        status_code,
        is_active,
        false as is_deleted,
        hire_date
    from current_employees
),

-- deleted employees keep the last values the warehouse recorded
deleted as (
    select
        employee_id,
        manager_employee_id,
        username,
        first_name,
        last_name,
        email,
        department,
        division,
        location,
        title,
        status_code,
        is_active,
        true as is_deleted,
        hire_date
    from versions
    where is_current and is_deleted
),

employees as (
    select * from present
    union all
    select * from deleted
),

described as (
    select
        employees.employee_id,
        employees.manager_employee_id,
        org_units.org_unit_id,
        org_units.top_org_unit_id,
        employees.username,
        employees.first_name,
        employees.last_name,
        nullif(trim({{ dbt.concat([
            "coalesce(employees.first_name, '')", "' '", "coalesce(employees.last_name, '')"
        ]) }}), '') as full_name,
        employees.email,
        employees.department,
        org_units.org_unit_name,
        org_units.top_org_unit_name,
        employees.division,
        employees.location,
        employees.title,
        employees.status_code,
        employees.is_active,
        employees.is_deleted,
        employees.hire_date,
        learner_reads.last_read_at as learning_last_read_at
    from employees
    left join org_units
        on employees.department = org_units.org_unit_id
    left join learner_reads
        on employees.employee_id = learner_reads.employee_id
)

select * from described
