with snapshot as (
    select * from {{ ref('snp_salesforce__users') }}
),

deletions as (
    select * from {{ ref('stg_salesforce__deletions') }}
),

versions as (
    {{ scd_versions(
        snapshot='snapshot',
        unique_key='salesforce_user_id',
        changed_at='last_modified_at',
        observed_at='extracted_at',
        tracked_columns=['division', 'audit_phase', 'is_active'],
        carried_columns=['full_name', 'email'],
        deletions='deletions',
    ) }}
)

select * from versions
