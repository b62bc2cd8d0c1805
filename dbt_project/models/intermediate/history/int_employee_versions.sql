with snapshot as (
    select * from {{ ref('snp_successfactors__users') }}
),

deletions as (
    select * from {{ ref('stg_successfactors__deletions') }}
),

versions as (
    {{ scd_versions(
        snapshot='snapshot',
        unique_key='employee_id',
        changed_at='last_modified_at',
        observed_at='extracted_at',
        tracked_columns=[
            'department',
            'division',
            'location',
            'manager_employee_id',
            'title',
            'is_active',
        ],
        carried_columns=[
            'username',
            'first_name',
            'last_name',
            'email',
            'status_code',
            'hire_date',
        ],
        deletions='deletions',
    ) }}
)

select * from versions
