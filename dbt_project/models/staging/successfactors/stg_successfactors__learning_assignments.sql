{{ config(materialized='table') }}
{#- A table, not a view: dbt_project.yml (models: staging) says why. -#}
with versions as (
    select * from {{ ref('stg_successfactors__learning_assignment_versions') }}
),

ranked as (
    select
        *,
        -- the to-do list has no modification time: the latest fetch is the latest version
        row_number() over (
            partition by employee_id, component_type_id, component_id, assigned_at
            order by
                extracted_at desc,
                load_id desc,
                raw_row_id desc
        ) as version_rank,
        min(extracted_at) over (
            partition by employee_id, component_type_id, component_id, assigned_at
        ) as first_seen_at,
        max(extracted_at) over (
            partition by employee_id, component_type_id, component_id, assigned_at
        ) as last_seen_at
    from versions
),

assignments as (
    select
        employee_id,
        component_type_id,
        component_id,
        component_key,
        component_type_description,
        revision_number,
        title,
        requirement_type_id,
        requirement_type_description,
        added_by,
        component_length_hours,
        credit_hours,
        cpe_hours,
        contact_hours,
        is_required,
        assigned_at,
        due_at,
        revised_at,
        first_seen_at,
        last_seen_at
    from ranked
    where version_rank = 1
)

select * from assignments
