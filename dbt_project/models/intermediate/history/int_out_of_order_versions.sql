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

-- per record and fetch: the latest source time in that fetch
fetches as (
    select
        object_type,
        object_id,
        effective_start_date,
        extracted_at,
        max(last_modified_at) as fetched_modified_at
    from received
    group by object_type, object_id, effective_start_date, extracted_at
),

-- the latest source time of everything fetched before, per record and fetch
preceded as (
    select
        object_type,
        object_id,
        effective_start_date,
        extracted_at,
        max(fetched_modified_at) over (
            partition by object_type, object_id, effective_start_date
            order by extracted_at
            rows between unbounded preceding and 1 preceding
        ) as superseded_by_modified_at
    from fetches
),

-- a version fetched after another version of the same record that carries a later source time
out_of_order as (
    select
        received.source_system,
        received.object_type,
        received.object_id,
        received.effective_start_date,
        received.raw_row_id,
        received.last_modified_at,
        received.extracted_at,
        preceded.superseded_by_modified_at,
        'source modification time is earlier than that of a version received before it;'
        || ' not applied, the later-stamped version stays current' as reason
    from received
    inner join preceded
        on
            received.object_type = preceded.object_type
            and received.object_id = preceded.object_id
            and received.extracted_at = preceded.extracted_at
            and (
                received.effective_start_date = preceded.effective_start_date
                or (
                    received.effective_start_date is null
                    and preceded.effective_start_date is null
                )
            )
    where preceded.superseded_by_modified_at > received.last_modified_at
)

select * from out_of_order
