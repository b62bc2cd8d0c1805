{{ config(materialized='table') }}
{#- A table, not a view: dbt_project.yml (models: staging) says why. -#}
with versions as (
    select * from {{ ref('stg_successfactors__org_unit_versions') }}
),

-- each segment (a unit's effective-dated period) at its latest version received
segments as (
    {{ latest_versions(
        versions='versions',
        unique_key=['org_unit_id', 'effective_start_date'],
        newest_first=['last_modified_at', 'extracted_at', 'load_id', 'raw_row_id'],
        columns=[
            'org_unit_id',
            'parent_org_unit_id',
            'head_of_unit_employee_id',
            'org_unit_name',
            'description',
            'status_code',
            'is_active',
            'effective_start_date',
            'effective_end_date',
            'last_modified_at',
            'extracted_at',
        ],
    ) }}
),

ranked_segments as (
    select
        *,
        row_number() over (
            partition by org_unit_id
            order by
                -- the segment in effect today, else the latest one
                case
                    when
                        effective_start_date <= cast({{ current_utc_timestamp() }} as date)
                        and (
                            effective_end_date is null
                            or effective_end_date >= cast({{ current_utc_timestamp() }} as date)
                        )
                        then 0
                    else 1
                end,
                effective_start_date desc
        ) as segment_rank
    from segments
),

current_org_units as (
    select
        org_unit_id,
        parent_org_unit_id,
        head_of_unit_employee_id,
        org_unit_name,
        description,
        status_code,
        is_active,
        effective_start_date,
        effective_end_date,
        last_modified_at,
        -- a segment entered ahead of its start takes effect at its start
        greatest(
            cast(effective_start_date as {{ dbt.type_timestamp() }}), last_modified_at
        ) as took_effect_at,
        extracted_at,
        {{ current_utc_timestamp() }} as recorded_at
    from ranked_segments
    where segment_rank = 1
)

select * from current_org_units
