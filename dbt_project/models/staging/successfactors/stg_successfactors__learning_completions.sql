{{ config(materialized='table') }}
{#- A table, not a view: dbt_project.yml (models: staging) says why. -#}
with versions as (
    select * from {{ ref('base_successfactors__learning_completion_versions') }}
),

current_completions as (
    {{ latest_versions(
        versions='versions',
        unique_key='completion_id',
        newest_first=['last_updated_at', 'extracted_at', 'load_id', 'raw_row_id'],
        columns=[
            'completion_id',
            'employee_id',
            'component_type_id',
            'component_id',
            'component_key',
            'revision_number',
            'title',
            'completion_status_id',
            'completion_status_description',
            'grade',
            'credit_hours',
            'cpe_hours',
            'contact_hours',
            'total_hours',
            'is_successful',
            'completed_at',
            'revised_at',
            'last_updated_at',
            'extracted_at',
        ],
    ) }}
)

select * from current_completions
