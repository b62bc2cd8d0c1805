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

-- successful completions of the same learner and item, at or after the assignment and before
-- the next cycle was assigned
candidates as (
    select
        cycles.employee_id,
        cycles.component_type_id,
        cycles.component_id,
        cycles.assigned_at,
        completions.completion_id,
        completions.completed_at,
        row_number() over (
            partition by
                cycles.employee_id,
                cycles.component_type_id,
                cycles.component_id,
                cycles.assigned_at
            order by completions.completed_at, completions.completion_id
        ) as completion_rank
    from cycles
    inner join completions
        on
            cycles.employee_id = completions.employee_id
            and cycles.component_type_id = completions.component_type_id
            and cycles.component_id = completions.component_id
            and cycles.assigned_at <= completions.completed_at
            and (
                cycles.next_assigned_at is null
                or cycles.next_assigned_at > completions.completed_at
            )
    where completions.is_successful
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
