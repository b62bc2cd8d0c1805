with versions as (
    select * from {{ ref('stg_successfactors__user_versions') }}
),

deletions as (
    select * from {{ ref('stg_successfactors__deletions') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by employee_id
            order by
                last_modified_at desc,
                extracted_at desc,
                load_id desc,
                raw_row_id desc
        ) as version_rank,
        max(extracted_at) over (partition by employee_id) as last_extracted_at
    from versions
),

last_detections as (
    select
        employee_id,
        max(detected_at) as detected_at
    from deletions
    group by employee_id
),

current_employees as (
    select
        ranked.employee_id,
        ranked.manager_employee_id,
        ranked.username,
        ranked.first_name,
        ranked.last_name,
        ranked.email,
        ranked.department,
        ranked.division,
        ranked.location,
        ranked.title,
        ranked.status_code,
        ranked.is_active,
        ranked.hire_date,
        ranked.last_modified_at,
        ranked.extracted_at,
        {{ current_utc_timestamp() }} as recorded_at
    from ranked
    left join last_detections
        on ranked.employee_id = last_detections.employee_id
    where
        ranked.version_rank = 1
        -- gone from a full refresh and not seen since: the snapshot closes it as deleted
        and (
            last_detections.detected_at is null
            or last_detections.detected_at <= ranked.last_extracted_at
        )
)

select * from current_employees
