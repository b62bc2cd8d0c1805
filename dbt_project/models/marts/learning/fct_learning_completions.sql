with completions as (
    select * from {{ ref('stg_successfactors__learning_completions') }}
),

employee_versions as (
    select * from {{ ref('dim_employee_scd') }}
),

salesforce_user_versions as (
    select * from {{ ref('dim_salesforce_user_scd') }}
),

persons as (
    select * from {{ ref('dim_person') }}
),

org_unit_placements as (
    select * from {{ ref('int_org_unit_hierarchy_history') }}
),

certification_validity as (
    select * from {{ ref('certification_validity') }}
),

employee_history_starts as (
    {{ history_starts('employee_versions', 'employee_id') }}
),

salesforce_history_starts as (
    {{ history_starts('salesforce_user_versions', 'salesforce_user_id') }}
),

placement_history_starts as (
    {{ history_starts('org_unit_placements', 'org_unit_id') }}
),

located as (
    select
        completions.*,
        persons.person_key,
        persons.salesforce_user_id
    from completions
    left join persons
        on completions.employee_id = persons.employee_id
),

placed as (
    select
        located.completion_id,
        employee_versions.employee_scd_key,
        salesforce_user_versions.salesforce_user_scd_key,
        {{ surrogate_key([
            'located.component_type_id', 'located.component_id',
        ]) }} as learning_item_key,
        located.person_key,
        located.employee_id,
        located.salesforce_user_id,
        located.component_id,
        located.component_type_id,
        employee_versions.org_unit_id,
        org_unit_placements.top_org_unit_id,
        located.completion_status_id,
        located.completion_status_description,
        located.grade,
        employee_versions.department,
        employee_versions.division,
        salesforce_user_versions.division as salesforce_division,
        salesforce_user_versions.audit_phase as salesforce_audit_phase,
        located.credit_hours,
        located.cpe_hours,
        located.contact_hours,
        located.total_hours,
        certification_validity.validity_days,
        located.is_successful,
        located.component_type_id = 'CERT' as is_certification,
        coalesce(
            employee_versions.employee_scd_key is not null
            and (
                located.completed_at < employee_history_starts.first_valid_from
                or located.completed_at < placement_history_starts.first_valid_from
            ),
            false
        ) as is_org_estimated,
        coalesce(
            salesforce_user_versions.salesforce_user_scd_key is not null
            and located.completed_at < salesforce_history_starts.first_valid_from,
            false
        ) as is_salesforce_estimated,
        cast(located.completed_at as date) as completed_date,
        located.completed_at,
        -- only a successful completion certifies
        case
            when located.is_successful
                then {{ dbt.dateadd(
                    'day', 'certification_validity.validity_days', 'located.completed_at'
                ) }}
        end as expires_at,
        located.last_updated_at
    from located
    -- each history as at the completion, or its first observed version when the completion
    -- happened before the warehouse saw anything (history loaded on day one)
    {{ join_version_at(
        'employee_versions', 'employee_history_starts', 'employee_id',
        key='located.employee_id', moment='located.completed_at',
    ) }}
    {{ join_version_at(
        'salesforce_user_versions', 'salesforce_history_starts', 'salesforce_user_id',
        key='located.salesforce_user_id', moment='located.completed_at',
    ) }}
    {{ join_version_at(
        'org_unit_placements', 'placement_history_starts', 'org_unit_id',
        key='employee_versions.org_unit_id', moment='located.completed_at',
    ) }}
    left join certification_validity
        on located.component_id = certification_validity.component_id
)

select * from placed
