{#
    Learning compliance is judged as of one date. The rules are written for analysts in
    models/marts/learning/_learning__docs.md (`compliance_rules`); these macros hold the parts
    that more than one model needs, so the fact and the daily aggregate cannot disagree.
#}

{#- The `as_of_date` var (YYYY-MM-DD) as a SQL date. Unset, it is the UTC day on which this dbt
    invocation started (`run_started_at`), fixed for the whole run: no model reads the clock
    itself, so rebuilding with the same value gives the same rows. -#}
{% macro compliance_as_of_date() -%}
    {%- set configured = var('as_of_date', none) -%}
    {%- if configured is none or (configured | string | trim) == '' -%}
        {%- set text = run_started_at.strftime('%Y-%m-%d') -%}
    {%- else -%}
        {%- set text = configured | string | trim -%}
    {%- endif -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
        {{ exceptions.raise_compiler_error(
            "the as_of_date var must be a date written YYYY-MM-DD, not '" ~ text ~ "'"
        ) }}
    {%- endif -%}
    cast('{{ text }}' as date)
{%- endmacro %}


{#- How many days `agg_compliance_by_org_unit` covers, ending at `as_of_date` (var
    `compliance_window_days`, default 30). -#}
{% macro compliance_window_days() -%}
    {%- set configured = var('compliance_window_days', 30) | string | trim -%}
    {%- if not configured.isdigit() or configured | int < 1 -%}
        {{ exceptions.raise_compiler_error(
            "the compliance_window_days var must be a whole number of days (1 or more), not '"
            ~ configured ~ "'"
        ) }}
    {%- endif -%}
    {{ return(configured | int) }}
{%- endmacro %}


{#- How many days ahead `dim_salesforce_user_compliance` looks for a due date or a certification
    expiry that makes a person `Due soon` (var `compliance_due_soon_days`, default 30; the last
    day included). -#}
{% macro compliance_due_soon_days() -%}
    {%- set configured = var('compliance_due_soon_days', 30) | string | trim -%}
    {%- if not configured.isdigit() -%}
        {{ exceptions.raise_compiler_error(
            "the compliance_due_soon_days var must be a whole number of days (0 or more), not '"
            ~ configured ~ "'"
        ) }}
    {%- endif -%}
    {{ return(configured | int) }}
{%- endmacro %}


{#- The status of one assignment as of `as_of_date` (all three are SQL date expressions; the
    completion's date in UTC, null when there is none). A completion after `as_of_date` does
    not count yet; the due date is inclusive; no due date is never overdue. -#}
{% macro compliance_status(due_date, completed_date, as_of_date) -%}
    case
        when
            {{ completed_date }} <= {{ as_of_date }}
            and ({{ due_date }} is null or {{ completed_date }} <= {{ due_date }})
            then 'completed_on_time'
        when {{ completed_date }} <= {{ as_of_date }} then 'completed_late'
        when {{ as_of_date }} > {{ due_date }} then 'overdue'
        else 'open'
    end
{%- endmacro %}

