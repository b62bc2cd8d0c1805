with reads as (
    select * from {{ ref('base_successfactors__learner_reads') }}
),

-- a learner the LMS would not answer for was not read: their data is as old as before
successful as (
    select * from reads
    where outcome = 'read'
),

per_learner as (
    select
        employee_id,
        max(case when resource = 'learning_assignments' then read_at end) as to_do_list_read_at,
        max(case when resource = 'learning_completions' then read_at end) as history_read_at
    from successful
    group by employee_id
),

both_lists as (
    select
        employee_id,
        to_do_list_read_at,
        history_read_at,
        -- when both lists were last read: the older of the two
        case
            when to_do_list_read_at <= history_read_at then to_do_list_read_at
            else history_read_at
        end as last_read_at
    from per_learner
)

select * from both_lists
