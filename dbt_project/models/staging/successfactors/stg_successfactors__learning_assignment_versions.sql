with base_versions as (
    select * from {{ ref('base_successfactors__learning_assignment_versions') }}
),

versions as (
    select
        employee_id,
        component_type_id,
        component_id,
        component_key,
        component_type_description,
        revision_number,
        title,
        description,
        requirement_type_id,
        requirement_type_description,
        added_by,
        component_length_hours,
        credit_hours,
        cpe_hours,
        contact_hours,
        days_remaining,
        is_required,
        assigned_at,
        due_at,
        revised_at,
        extracted_at,
        load_id,
        raw_row_id
    from base_versions
)

select * from versions
