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
    {{ print('What the marts hold (schema ' ~ schema ~ '):') }}
    {%- for name in marts -%}
        {%- set relation = adapter.get_relation(database=target.database, schema=schema, identifier=name) -%}
        {%- if relation is none -%}
            {{ print('  ' ~ name ~ ': not built yet') }}
        {%- else -%}
            {%- set result = run_query('select count(*) from ' ~ relation) -%}
            {{ print('  ' ~ name ~ ': ' ~ result.columns[0].values()[0] ~ ' rows') }}
        {%- endif -%}
    {%- endfor -%}
    {%- set assignments = adapter.get_relation(
        database=target.database, schema=schema, identifier='fct_learning_assignments'
    ) -%}
    {%- if assignments is not none -%}
        {%- set statuses = run_query(
            'select max(as_of_date), status, count(*) from ' ~ assignments
            ~ ' where is_latest_cycle and is_employee_active group by status order by status'
        ) -%}
        {%- if statuses.rows | length > 0 -%}
            {{ print('Compliance of active employees as of ' ~ statuses.rows[0][0] ~ ' (latest cycle per person and item):') }}
            {%- for row in statuses.rows -%}
                {{ print('  ' ~ row[1] ~ ': ' ~ row[2]) }}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
