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
    select
        employee_id,
        min(valid_from) as first_valid_from
    from employee_versions
    group by employee_id
),

salesforce_history_starts as (
    select
        salesforce_user_id,
        min(valid_from) as first_valid_from
    from salesforce_user_versions
    group by salesforce_user_id
),

placement_history_starts as (
    select
        org_unit_id,
        min(valid_from) as first_valid_from
    from org_unit_placements
    group by org_unit_id
),

-- the moment to look each history up at: the completion's time, or the first observed version
-- when the completion happened before the warehouse saw anything (history loaded on day one)
located as (
    select
        completions.*,
        persons.person_key,
        persons.salesforce_user_id,
        employee_history_starts.first_valid_from as employee_first_valid_from,
        salesforce_history_starts.first_valid_from as salesforce_first_valid_from,
        greatest(
            completions.completed_at, employee_history_starts.first_valid_from
        ) as employee_lookup_at,
        greatest(
            completions.completed_at, salesforce_history_starts.first_valid_from
        ) as salesforce_lookup_at
    from completions
    left join persons
        on completions.employee_id = persons.employee_id
    left join employee_history_starts
        on completions.employee_id = employee_history_starts.employee_id
    left join salesforce_history_starts
        on persons.salesforce_user_id = salesforce_history_starts.salesforce_user_id
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
                located.completed_at < located.employee_first_valid_from
                or located.completed_at < placement_history_starts.first_valid_from
            ),
            false
        ) as is_org_estimated,
        coalesce(
            salesforce_user_versions.salesforce_user_scd_key is not null
            and located.completed_at < located.salesforce_first_valid_from,
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
    left join employee_versions
        on
            located.employee_id = employee_versions.employee_id
            and {{ valid_at('employee_versions', 'located.employee_lookup_at') }}
    left join salesforce_user_versions
        on
            located.salesforce_user_id = salesforce_user_versions.salesforce_user_id
            and {{ valid_at('salesforce_user_versions', 'located.salesforce_lookup_at') }}
    left join placement_history_starts
        on employee_versions.org_unit_id = placement_history_starts.org_unit_id
    left join org_unit_placements
        on
            employee_versions.org_unit_id = org_unit_placements.org_unit_id
            and {{ valid_at(
                'org_unit_placements',
                'greatest(located.completed_at, placement_history_starts.first_valid_from)',
            ) }}
    left join certification_validity
        on located.component_id = certification_validity.component_id
)

select * from placed
