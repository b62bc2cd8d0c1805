with salesforce_users as (
    select * from {{ ref('stg_salesforce__user_versions') }}
),

employees as (
    select * from {{ ref('stg_successfactors__user_versions') }}
),

org_units as (
    select * from {{ ref('stg_successfactors__org_unit_versions') }}
),

-- one row per raw version: which record, its source time, when it was fetched
received as (
    select
        'salesforce' as source_system,
        'salesforce_user' as object_type,
        salesforce_user_id as object_id,
        cast(null as date) as effective_start_date,
        raw_row_id,
        last_modified_at,
        extracted_at
    from salesforce_users

    union all

    select
        'successfactors' as source_system,
        'employee' as object_type,
        employee_id as object_id,
        cast(null as date) as effective_start_date,
        raw_row_id,
        last_modified_at,
        extracted_at
    from employees

    union all

    select
        'successfactors' as source_system,
        'org_unit' as object_type,
        org_unit_id as object_id,
        effective_start_date,
        raw_row_id,
        last_modified_at,
        extracted_at
    from org_units
),

-- per version: the latest source time among the versions of its record fetched before it
-- (extracted_at is kept to the microsecond, so the frame ends at the fetch before its own)
preceded as (
    select
        *,
        max(last_modified_at) over (
            partition by object_type, object_id, effective_start_date
            order by extracted_at
            range between unbounded preceding and interval '1 microsecond' preceding
        ) as superseded_by_modified_at
    from received
),

-- a version fetched after another version of the same record that carries a later source time
out_of_order as (
    select
        source_system,
        object_type,
        object_id,
        effective_start_date,
        raw_row_id,
        last_modified_at,
        extracted_at,
        superseded_by_modified_at,
        'source modification time is earlier than that of a version received before it;'
        || ' not applied, the later-stamped version stays current' as reason
    from preceded
    where superseded_by_modified_at > last_modified_at
)

select * from out_of_order
