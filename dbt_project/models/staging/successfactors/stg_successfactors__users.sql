{{ config(materialized='table') }}
{#- A table, not a view: dbt_project.yml (models: staging) says why. -#}
with versions as (
    select * from {{ ref('stg_successfactors__user_versions') }}
),

deletions as (
    select * from {{ ref('stg_successfactors__deletions') }}
),

latest as (
    {{ latest_versions(
        versions='versions',
        unique_key='employee_id',
        newest_first=['last_modified_at', 'extracted_at', 'load_id', 'raw_row_id'],
        columns=[
            'employee_id',
            'manager_employee_id',
            'username',
            'first_name',
            'last_name',
            'email',
            'department',
            'division',
            'location',
            'title',
            'status_code',
            'is_active',
            'hire_date',
            'last_modified_at',
            'extracted_at',
        ],
        deletions='deletions',
    ) }}
),

current_employees as (
    select
        *,
        {{ current_utc_timestamp() }} as recorded_at
    from latest
)

select * from current_employees
