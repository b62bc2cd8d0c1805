{#
    `dbt run-operation demo_summary`: what the marts hold, for the end of `make demo`.
    Marts that do not exist yet are named as missing rather than failing the demo.
#}
{% macro demo_summary() %}
    {%- set marts = [
        'dim_person', 'dim_employee', 'dim_employee_scd', 'dim_salesforce_user_scd',
        'dim_org_unit', 'dim_learning_item', 'fct_learning_completions',
        'fct_learning_assignments', 'fct_org_changes', 'agg_compliance_by_org_unit',
    ] -%}
    {%- set schema = generate_schema_name('marts', none) -%}
    {{ log('What the marts hold (schema ' ~ schema ~ '):', info=true) }}
    {%- for name in marts -%}
        {%- set relation = adapter.get_relation(database=target.database, schema=schema, identifier=name) -%}
        {%- if relation is none -%}
            {{ log('  ' ~ name ~ ': not built yet', info=true) }}
        {%- else -%}
            {%- set result = run_query('select count(*) from ' ~ relation) -%}
            {{ log('  ' ~ name ~ ': ' ~ result.columns[0].values()[0] ~ ' rows', info=true) }}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}
