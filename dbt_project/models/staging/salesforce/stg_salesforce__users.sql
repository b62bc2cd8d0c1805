with versions as (
    select * from {{ ref('stg_salesforce__user_versions') }}
),

deletions as (
    select * from {{ ref('stg_salesforce__deletions') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by salesforce_user_id
            order by
                last_modified_at desc,
                system_modified_at desc,
                extracted_at desc,
                load_id desc,
                raw_row_id desc
        ) as version_rank,
        max(extracted_at) over (partition by salesforce_user_id) as last_extracted_at
    from versions
),

last_detections as (
    select
        salesforce_user_id,
        max(detected_at) as detected_at
    from deletions
    group by salesforce_user_id
),

current_users as (
    select
        ranked.salesforce_user_id,
        ranked.manager_salesforce_user_id,
        ranked.employee_number,
        ranked.federation_identifier,
        ranked.username,
        ranked.full_name,
        ranked.first_name,
        ranked.last_name,
        ranked.email,
        ranked.division,
        ranked.department,
        ranked.title,
        ranked.audit_phase,
        ranked.is_active,
        ranked.created_at,
        ranked.last_modified_at,
        ranked.system_modified_at,
        ranked.extracted_at,
        {{ current_utc_timestamp() }} as recorded_at
    from ranked
    left join last_detections
        on ranked.salesforce_user_id = last_detections.salesforce_user_id
    where
        ranked.version_rank = 1
        -- gone from a full refresh and not seen since: the snapshot closes it as deleted
        and (
            last_detections.detected_at is null
            or last_detections.detected_at <= ranked.last_extracted_at
        )
)

select * from current_users
