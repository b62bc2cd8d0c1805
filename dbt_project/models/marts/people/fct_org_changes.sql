{#- Each history, its key and the attributes whose changes are listed (in this order). -#}
{%- set histories = {
    'salesforce_user': {
        'source_system': 'salesforce',
        'key': 'salesforce_user_id',
        'attributes': ['division', 'audit_phase', 'is_active', 'is_deleted'],
    },
    'employee': {
        'source_system': 'successfactors',
        'key': 'employee_id',
        'attributes': [
            'department', 'division', 'location', 'title', 'manager_employee_id', 'is_active',
            'is_deleted',
        ],
    },
    'org_unit': {
        'source_system': 'successfactors',
        'key': 'org_unit_id',
        'attributes': ['org_unit_name', 'parent_org_unit_id', 'head_of_unit_employee_id'],
    },
} -%}
{%- set changed_attributes = [] -%}
{%- for changed_object, history in histories.items() -%}
    {%- for attribute in history.attributes -%}
        {%- do changed_attributes.append((changed_object, attribute)) -%}
    {%- endfor -%}
{%- endfor -%}

with salesforce_user_versions as (
    select * from {{ ref('dim_salesforce_user_scd') }}
),

employee_versions as (
    select * from {{ ref('dim_employee_scd') }}
),

org_unit_versions as (
    select * from {{ ref('dim_org_unit_scd') }}
),

persons as (
    select * from {{ ref('dim_person') }}
),

{% for changed_object, history in histories.items() -%}
    -- each {{ changed_object }} version beside the one before it
    {{ changed_object }}_steps as (
        select
            '{{ history.source_system }}' as source_system,
            {{ history.key }} as object_id,
            {%- for scd_object in histories %}
                {%- if scd_object == changed_object %}
                    {{ scd_object }}_scd_key,
                {%- else %}
                    cast(null as {{ dbt.type_string() }}) as {{ scd_object }}_scd_key,
                {%- endif %}
            {%- endfor %}
            valid_from,
            {%- for attribute in history.attributes %}
                {{ attribute }},
                lag({{ attribute }}) over (
                    partition by {{ history.key }} order by valid_from
                ) as previous_{{ attribute }},
            {%- endfor %}
            row_number() over (
                partition by {{ history.key }} order by valid_from
            ) as version_number
        from {{ changed_object }}_versions
    ),

{% endfor -%}
-- one row per attribute that differs from the previous version
changes as (
    {%- for changed_object, attribute in changed_attributes %}
        select
            source_system,
            '{{ changed_object }}' as changed_object,
            object_id,
            salesforce_user_scd_key,
            employee_scd_key,
            org_unit_scd_key,
            '{{ attribute }}' as attribute_name,
            cast(previous_{{ attribute }} as {{ dbt.type_string() }}) as old_value,
            cast({{ attribute }} as {{ dbt.type_string() }}) as new_value,
            valid_from as changed_at
        from {{ changed_object }}_steps
        where
            version_number > 1
            and {{ attribute }} is distinct from previous_{{ attribute }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

attributed as (
    select
        {{ surrogate_key([
            'changes.changed_object', 'changes.object_id', 'changes.attribute_name',
            'changes.changed_at',
        ]) }} as org_change_key,
        coalesce(employee_persons.person_key, salesforce_persons.person_key) as person_key,
        changes.salesforce_user_scd_key,
        changes.employee_scd_key,
        changes.org_unit_scd_key,
        changes.object_id,
        changes.source_system,
        changes.changed_object,
        changes.attribute_name,
        changes.old_value,
        changes.new_value,
        changes.changed_at
    from changes
    left join persons as employee_persons
        on
            changes.changed_object = 'employee'
            and changes.object_id = employee_persons.employee_id
    left join persons as salesforce_persons
        on
            changes.changed_object = 'salesforce_user'
            and changes.object_id = salesforce_persons.salesforce_user_id
)

select * from attributed
