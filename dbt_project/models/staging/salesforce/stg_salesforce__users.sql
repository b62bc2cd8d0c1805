{{ config(materialized='table') }}
{#- A table, not a view: dbt_project.yml (models: staging) says why. -#}
with versions as (
    select * from {{ ref('stg_salesforce__user_versions') }}
),

deletions as (
    select * from {{ ref('stg_salesforce__deletions') }}
),

latest as (
    {{ latest_versions(
        versions='versions',
        unique_key='salesforce_user_id',
        newest_first=[
            'last_modified_at', 'system_modified_at', 'extracted_at', 'load_id', 'raw_row_id',
        ],
        columns=[
            'salesforce_user_id',
            'manager_salesforce_user_id',
            'employee_number',
            'federation_identifier',
            'username',
            'full_name',
            'first_name',
            'last_name',
            'email',
            'division',
            'department',
            'title',
            'audit_phase',
            'is_active',
            'created_at',
            'last_modified_at',
            'system_modified_at',
            'extracted_at',
        ],
        deletions='deletions',
    ) }}
),

current_users as (
    select
        *,
        {{ current_utc_timestamp() }} as recorded_at
    from latest
)

select * from current_users
