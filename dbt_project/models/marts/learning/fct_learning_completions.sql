{{ config(
    materialized='incremental',
    unique_key='completion_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}
{#- Incremental: each build rebuilds the completions of the learners whose inputs changed since
    the previous one (`learners_to_rebuild`), delete+insert by `completion_id`; `--full-refresh`
    rebuilds every row and gives the same rows. _learning__docs.md (`incremental_completions`)
    lists what counts as a change and why nothing else can change a row; the vars
    `rebuild_from`/`rebuild_until` rebuild the completions of a range of days too. -#}
{#- A table built before it was incremental has no watermark: rebuild every row once (the
    delete+insert then covers them all, and `on_schema_change` adds the column). -#}
{%- set built_columns = adapter.get_columns_in_relation(this) if is_incremental() else [] -%}
{%- set has_watermark = 'history_recorded_at' in built_columns | map(attribute='name') | list %}
-- depends_on: {{ ref('stg_successfactors__org_units') }}
-- depends_on: {{ ref('int_org_unit_ancestors_history') }}
-- depends_on: {{ ref('int_org_unit_versions') }}
-- depends_on: {{ ref('int_salesforce_user_versions') }}

-- `not materialized`: the incremental path reads the completions and the built table more
-- than once, and Postgres would otherwise copy every row and column of each (2,000,000 rows,
-- spilled to disk: ~5 s of the daily query) before comparing a few columns of them.
with all_completions as not materialized (
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

-- when the learner's employee history last recorded a version: the newest of these is where
-- the next incremental build starts looking for recorded versions (a value of each row's own
-- inputs, so a full refresh gives the same)
employee_recorded as (
    select
        employee_id,
        max(recorded_at) as history_recorded_at
    from {{ ref('int_employee_versions') }}
    group by employee_id
),

{% if has_watermark %}
    built as not materialized (
        select * from {{ this }}
    ),

    previous_build as (
        select max(history_recorded_at) as history_recorded_at from built
    ),

    -- a unit whose versions were recorded since, and every unit ever below it: their placements
    -- in the tree may have changed
    moved_org_units as (
        select distinct org_unit_ancestors.org_unit_id
        from {{ ref('int_org_unit_versions') }} as org_unit_versions
        cross join previous_build
        inner join {{ ref('int_org_unit_ancestors_history') }} as org_unit_ancestors
            on org_unit_versions.org_unit_id = org_unit_ancestors.ancestor_org_unit_id
        where
            previous_build.history_recorded_at is null
            or org_unit_versions.recorded_at > previous_build.history_recorded_at
    ),

    learners_to_rebuild as (
        -- a completion new or changed since it was built (moved to another learner included)
        select all_completions.employee_id
        from all_completions
        left join built
            on all_completions.completion_id = built.completion_id
        where
            built.completion_id is null
            or all_completions.employee_id is distinct from built.employee_id
            or all_completions.component_id is distinct from built.component_id
            or all_completions.component_type_id is distinct from built.component_type_id
            or all_completions.completion_status_id is distinct from built.completion_status_id
            or all_completions.completion_status_description
            is distinct from built.completion_status_description
            or all_completions.grade is distinct from built.grade
            or all_completions.credit_hours is distinct from built.credit_hours
            or all_completions.cpe_hours is distinct from built.cpe_hours
            or all_completions.contact_hours is distinct from built.contact_hours
            or all_completions.total_hours is distinct from built.total_hours
            or all_completions.is_successful is distinct from built.is_successful
            or all_completions.completed_at is distinct from built.completed_at
            or all_completions.last_updated_at is distinct from built.last_updated_at

        union

        -- a version of the employee recorded since (late, out of order, deleted: all recorded)
        select employee_versions.employee_id
        from {{ ref('int_employee_versions') }} as employee_versions
        cross join previous_build
        where
            previous_build.history_recorded_at is null
            or employee_versions.recorded_at > previous_build.history_recorded_at

        union

        -- a version of the Salesforce user matched to the employee today recorded since
        select persons.employee_id
        from {{ ref('int_salesforce_user_versions') }} as salesforce_user_versions
        cross join previous_build
        inner join persons
            on salesforce_user_versions.salesforce_user_id = persons.salesforce_user_id
        where
            persons.employee_id is not null
            and (
                previous_build.history_recorded_at is null
                or salesforce_user_versions.recorded_at > previous_build.history_recorded_at
            )

        union

        -- a different person or Salesforce match today
        select built.employee_id
        from built
        left join persons
            on built.employee_id = persons.employee_id
        where
            built.person_key is distinct from persons.person_key
            or built.salesforce_user_id is distinct from persons.salesforce_user_id

        union

        -- a validity changed in the seed
        select built.employee_id
        from built
        left join certification_validity
            on built.component_id = certification_validity.component_id
        where built.validity_days is distinct from certification_validity.validity_days

        union

        -- an org unit that is no longer current (dim_employee_scd reads today's units)
        select built.employee_id
        from built
        left join {{ ref('stg_successfactors__org_units') }} as current_org_units
            on built.org_unit_id = current_org_units.org_unit_id
        where built.org_unit_id is not null and current_org_units.org_unit_id is null

        union

        -- a version in a unit whose place in the tree may have changed
        select employee_versions.employee_id
        from employee_versions
        inner join moved_org_units
            on employee_versions.org_unit_id = moved_org_units.org_unit_id
    ),

    -- a join, not `in (...) or ...`: under an OR Postgres checks each of the 2,000,000
    -- completions against the list of learners one by one (33 s for 143 learners)
    completions as (
        select all_completions.*
        from all_completions
        inner join learners_to_rebuild
            on all_completions.employee_id = learners_to_rebuild.employee_id
        {%- if rebuild_range() is not none %}

            -- and the days the `rebuild_from`/`rebuild_until` vars name (macros/rebuild_range.sql)
            union

            select all_completions.*
            from all_completions
            where {{ in_rebuild_range('cast(all_completions.completed_at as date)') }}
        {%- endif %}
    ),
{% else %}
    completions as (
        select * from all_completions
    ),
{% endif %}

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
        located.last_updated_at,
        employee_recorded.history_recorded_at
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
    left join employee_recorded
        on located.employee_id = employee_recorded.employee_id
)

select * from placed
