with assignments as (
    select * from {{ ref('stg_successfactors__learning_assignments') }}
),

completions as (
    select * from {{ ref('stg_successfactors__learning_completions') }}
),

certification_validity as (
    select * from {{ ref('certification_validity') }}
),

-- each required assignment beside the next one of the same learner and item (its next cycle)
cycles as (
    select
        *,
        lead(assigned_at) over (
            partition by employee_id, component_type_id, component_id
            order by assigned_at
        ) as next_assigned_at
    from assignments
    where is_required
),

-- each learner's assignments and successful completions of one item on a single timeline (an
-- assignment sorts before a completion at the same instant); a sort instead of a range join,
-- which the planner would run as a nested loop over every pair. Only completions of an item
-- the learner was assigned: no other can satisfy an assignment, and most completions are
-- electives (sorting them all took 7 of the 7.5 s at 2,000,000 completions).
timeline as (
    select
        employee_id,
        component_type_id,
        component_id,
        assigned_at as event_at,
        0 as event_order,
        cast(null as {{ dbt.type_string() }}) as completion_id
    from cycles
    union all
    select
        employee_id,
        component_type_id,
        component_id,
        completed_at as event_at,
        1 as event_order,
        completion_id
    from completions
    where
        is_successful
        and exists (
            select 1
            from cycles
            where
                cycles.employee_id = completions.employee_id
                and cycles.component_type_id = completions.component_type_id
                and cycles.component_id = completions.component_id
        )
),

-- a completion belongs to the latest assignment at or before it: at or after the assignment,
-- before the next cycle was assigned
placed as (
    select
        employee_id,
        component_type_id,
        component_id,
        event_at,
        event_order,
        completion_id,
        max(case when event_order = 0 then event_at end) over (
            partition by employee_id, component_type_id, component_id
            order by event_at, event_order
            rows between unbounded preceding and current row
        ) as assigned_at
    from timeline
),

candidates as (
    select
        employee_id,
        component_type_id,
        component_id,
        assigned_at,
        completion_id,
        event_at as completed_at,
        row_number() over (
            partition by employee_id, component_type_id, component_id, assigned_at
            order by event_at, completion_id
        ) as completion_rank
    from placed
    where event_order = 1 and assigned_at is not null
),

satisfying_completions as (
    select * from candidates
    where completion_rank = 1
),

matched as (
    select
        {{ surrogate_key([
            'cycles.employee_id', 'cycles.component_type_id', 'cycles.component_id',
            'cycles.assigned_at',
        ]) }} as learning_assignment_key,
        cycles.employee_id,
        cycles.component_type_id,
        cycles.component_id,
        satisfying_completions.completion_id,
        cycles.requirement_type_id,
        cycles.requirement_type_description,
        certification_validity.validity_days,
        cycles.component_type_id = 'CERT' as is_certification,
        cast(cycles.due_at as date) as due_date,
        cast(satisfying_completions.completed_at as date) as completed_date,
        cycles.assigned_at,
        cycles.due_at,
        satisfying_completions.completed_at,
        {{ dbt.dateadd(
            'day', 'certification_validity.validity_days', 'satisfying_completions.completed_at'
        ) }} as expires_at,
        cycles.next_assigned_at,
        cycles.first_seen_at,
        cycles.last_seen_at
    from cycles
    left join satisfying_completions
        on
            cycles.employee_id = satisfying_completions.employee_id
            and cycles.component_type_id = satisfying_completions.component_type_id
            and cycles.component_id = satisfying_completions.component_id
            and cycles.assigned_at = satisfying_completions.assigned_at
    left join certification_validity
        on cycles.component_id = certification_validity.component_id
)

select * from matched
