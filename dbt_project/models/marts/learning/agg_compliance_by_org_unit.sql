{%- set window_days = compliance_window_days() -%}
{#- Without Learning in the warehouse there is nothing to report: no grid of zeros that would
    read as "nothing assigned". -#}
{%- set learning_is_loaded = (
    raw_table_in_use('successfactors', 'learning_assignments') if execute else true
) -%}

with assignment_cycles as (
    select * from {{ ref('int_learning_assignment_completions') }}
),

employee_versions as (
    select * from {{ ref('dim_employee_scd') }}
),

org_unit_ancestors as (
    select * from {{ ref('int_org_unit_ancestors_history') }}
),

learner_reads as (
    select * from {{ ref('stg_successfactors__learner_reads') }}
),

day_numbers as (
    {{ dbt.generate_series(window_days) }}
),

-- the window: the last `compliance_window_days` days up to and including `as_of_date`; each
-- day is judged at its end (midnight UTC after it)
report_days as (
    select
        cast(
            {{ dbt.dateadd('day', '1 - generated_number', compliance_as_of_date()) }} as date
        ) as report_date,
        cast(
            {{ dbt.dateadd('day', '2 - generated_number', compliance_as_of_date()) }}
            as {{ dbt.type_timestamp() }}
        ) as day_ends_at
    from day_numbers
),

-- on each day, the latest cycle of every learner and item assigned by then
daily_assignments as (
    select
        report_days.report_date,
        report_days.day_ends_at,
        assignment_cycles.employee_id,
        {{ compliance_status(
            'assignment_cycles.due_date',
            'assignment_cycles.completed_date',
            'report_days.report_date',
        ) }} as status,
        coalesce(
            assignment_cycles.completed_date <= report_days.report_date
            and report_days.report_date > cast(assignment_cycles.expires_at as date),
            false
        ) as is_expired
    from report_days
    inner join assignment_cycles
        on
            report_days.day_ends_at > assignment_cycles.assigned_at
            and (
                assignment_cycles.next_assigned_at is null
                or report_days.day_ends_at <= assignment_cycles.next_assigned_at
            )
),

employee_history_starts as (
    {{ history_starts('employee_versions', 'employee_id') }}
),

-- each learner in the org unit they belonged to at the end of the day (the earliest version
-- stands in before the first one observed); inactive and deleted employees are not counted
placed_assignments as (
    select
        daily_assignments.*,
        employee_versions.org_unit_id,
        learner_reads.last_read_at as learning_read_at
    from daily_assignments
    left join learner_reads on daily_assignments.employee_id = learner_reads.employee_id
    {{ join_version_at(
        'employee_versions', 'employee_history_starts', 'employee_id',
        key='daily_assignments.employee_id', moment='daily_assignments.day_ends_at',
        join_type='inner',
    ) }}
    where
        employee_versions.is_active
        and not employee_versions.is_deleted
        and employee_versions.org_unit_id is not null
),

-- per org unit and day, its own members only (an employee is in one unit on a day, so these
-- add up over a subtree, distinct employees included)
unit_days as (
    select
        org_unit_id,
        report_date,
        day_ends_at,
        count(*) as assigned_count,
        sum(
            case when status in ('completed_on_time', 'completed_late') then 1 else 0 end
        ) as completed_count,
        sum(case when status = 'completed_on_time' then 1 else 0 end) as completed_on_time_count,
        sum(case when status = 'open' then 1 else 0 end) as open_count,
        sum(case when status = 'overdue' then 1 else 0 end) as overdue_count,
        sum(case when is_expired then 1 else 0 end) as expired_count,
        count(distinct employee_id) as assigned_employee_count,
        count(distinct case
            when status = 'overdue' or is_expired then employee_id
        end) as non_compliant_employee_count,
        -- how fresh the figure is: its learners' oldest last read (never read: unknown)
        min(learning_read_at) as oldest_learning_read_at,
        count(distinct case when learning_read_at is null then employee_id end)
            as never_read_employee_count
    from placed_assignments
    group by org_unit_id, report_date, day_ends_at
),

unit_history_starts as (
    {{ history_starts('org_unit_ancestors', 'org_unit_id', where='distance = 0') }}
),

-- each unit's figures added to itself and every unit above it in the tree as it was that day
rolled_up as (
    select
        org_unit_ancestors.ancestor_org_unit_id as org_unit_id,
        unit_days.report_date,
        sum(unit_days.assigned_count) as assigned_count,
        sum(unit_days.completed_count) as completed_count,
        sum(unit_days.completed_on_time_count) as completed_on_time_count,
        sum(unit_days.open_count) as open_count,
        sum(unit_days.overdue_count) as overdue_count,
        sum(unit_days.expired_count) as expired_count,
        sum(unit_days.assigned_employee_count) as assigned_employee_count,
        sum(unit_days.non_compliant_employee_count) as non_compliant_employee_count,
        min(unit_days.oldest_learning_read_at) as oldest_learning_read_at,
        sum(unit_days.never_read_employee_count) as never_read_employee_count
    from unit_days
    {{ join_version_at(
        'org_unit_ancestors', 'unit_history_starts', 'org_unit_id',
        key='unit_days.org_unit_id', moment='unit_days.day_ends_at', join_type='inner',
    ) }}
    group by org_unit_ancestors.ancestor_org_unit_id, unit_days.report_date
),

-- every org unit on every day of the window, zeros where nothing was assigned
unit_grid as (
    select
        unit_history_starts.org_unit_id,
        report_days.report_date
    from unit_history_starts
    cross join report_days
    where {{ 'true' if learning_is_loaded else 'false' }}
),

final as (
    select
        unit_grid.org_unit_id,
        coalesce(rolled_up.assigned_count, 0) as assigned_count,
        coalesce(rolled_up.completed_count, 0) as completed_count,
        coalesce(rolled_up.completed_on_time_count, 0) as completed_on_time_count,
        coalesce(rolled_up.open_count, 0) as open_count,
        coalesce(rolled_up.overdue_count, 0) as overdue_count,
        coalesce(rolled_up.expired_count, 0) as expired_count,
        coalesce(rolled_up.assigned_employee_count, 0) as assigned_employee_count,
        coalesce(rolled_up.non_compliant_employee_count, 0) as non_compliant_employee_count,
        rolled_up.oldest_learning_read_at,
        coalesce(rolled_up.never_read_employee_count, 0) as never_read_employee_count,
        cast(
            1.0 * rolled_up.completed_count / nullif(rolled_up.assigned_count, 0)
            as {{ dbt.type_numeric() }}
        ) as completion_rate,
        cast(
            1.0
            * (rolled_up.assigned_count - rolled_up.overdue_count - rolled_up.expired_count)
            / nullif(rolled_up.assigned_count, 0)
            as {{ dbt.type_numeric() }}
        ) as compliance_rate,
        unit_grid.report_date
    from unit_grid
    left join rolled_up
        on
            unit_grid.org_unit_id = rolled_up.org_unit_id
            and unit_grid.report_date = rolled_up.report_date
)

select * from final
