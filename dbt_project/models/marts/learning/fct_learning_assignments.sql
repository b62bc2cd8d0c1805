with assignment_cycles as (
    select * from {{ ref('int_learning_assignment_completions') }}
),

employee_versions as (
    select * from {{ ref('dim_employee_scd') }}
),

persons as (
    select * from {{ ref('dim_person') }}
),

-- the day compliance is judged on, and the moment it ends (midnight UTC after it)
as_of as (
    select
        {{ compliance_as_of_date() }} as as_of_date,
        cast(
            {{ dbt.dateadd('day', 1, compliance_as_of_date()) }} as {{ dbt.type_timestamp() }}
        ) as as_of_ends_at
),

employee_history_starts as (
    {{ history_starts('employee_versions', 'employee_id') }}
),

-- assignments made by the end of the day; later ones do not exist yet as of that day
assigned as (
    select
        assignment_cycles.*,
        as_of.as_of_date,
        as_of.as_of_ends_at,
        -- a completion after the day does not count yet
        case
            when assignment_cycles.completed_at < as_of.as_of_ends_at
                then assignment_cycles.completion_id
        end as counted_completion_id,
        case
            when assignment_cycles.completed_at < as_of.as_of_ends_at
                then assignment_cycles.completed_at
        end as counted_completed_at,
        -- no later cycle of the same learner and item had been assigned by then
        coalesce(
            assignment_cycles.next_assigned_at is null
            or assignment_cycles.next_assigned_at >= as_of.as_of_ends_at,
            false
        ) as is_latest_cycle
    from assignment_cycles
    cross join as_of
    where assignment_cycles.assigned_at < as_of.as_of_ends_at
),

judged as (
    select
        *,
        {{ compliance_status(
            'due_date', 'cast(counted_completed_at as date)', 'as_of_date',
        ) }} as status,
        cast(counted_completed_at as date) as counted_completed_date,
        cast(
            case when counted_completed_at is not null then expires_at end as date
        ) as counted_expires_date
    from assigned
),

described as (
    select
        judged.learning_assignment_key,
        employee_versions.employee_scd_key,
        persons.person_key,
        {{ surrogate_key([
            'judged.component_type_id', 'judged.component_id',
        ]) }} as learning_item_key,
        judged.counted_completion_id as completion_id,
        judged.employee_id,
        judged.component_id,
        judged.component_type_id,
        employee_versions.org_unit_id,
        judged.requirement_type_id,
        judged.requirement_type_description,
        judged.status,
        judged.validity_days,
        case
            when judged.status = 'overdue'
                then {{ dbt.datediff('judged.due_date', 'judged.as_of_date', 'day') }}
        end as days_overdue,
        {{ dbt.datediff(
            'judged.as_of_date', 'judged.counted_expires_date', 'day',
        ) }} as days_to_expiry,
        judged.is_certification,
        judged.status in ('completed_on_time', 'completed_late') as is_completed,
        -- the expiry date is the last day a certification counts (the retraining's due date)
        coalesce(judged.as_of_date > judged.counted_expires_date, false) as is_expired,
        (
            judged.status != 'overdue'
            and not coalesce(judged.as_of_date > judged.counted_expires_date, false)
        ) as is_compliant,
        judged.is_latest_cycle,
        employee_versions.is_active and not employee_versions.is_deleted as is_employee_active,
        judged.as_of_date,
        judged.due_date,
        judged.counted_completed_date as completed_date,
        judged.counted_expires_date as expires_date,
        judged.assigned_at,
        judged.due_at,
        judged.counted_completed_at as completed_at,
        case when judged.counted_completed_at is not null then judged.expires_at end as expires_at
    from judged
    left join persons
        on judged.employee_id = persons.employee_id
    {{ join_version_at(
        'employee_versions', 'employee_history_starts', 'employee_id',
        key='judged.employee_id', moment='judged.as_of_ends_at',
    ) }}
)

select * from described
