{#
    The versions of one entity from its dbt snapshot, with validity periods that never overlap.
    Used by the `int_*_versions` models; the rules are written for analysts in
    models/intermediate/history/_history__docs.md (`scd_validity_rules`):

    1. Versions follow each other in the order dbt recorded them (`recorded_at`: the run that
       inserted the snapshot row; a deletion row's own `dbt_valid_from`).
    2. A version starts at its source modification time (`changed_at`). A deletion row starts
       when the loader detected the deletion (the latest detection not after the run that
       recorded it), or when dbt recorded it if no detection is known.
    3. A version whose start would not be later than its predecessor's (a record that returns
       after a deletion without having been modified, or two states stamped with the same source
       time) starts instead when the loader fetched it (`observed_at`).
    4. A version equal to its predecessor in every tracked column and in its deletion state is
       merged into it (dbt re-versions every row when a column is added to a snapshot).
    5. `valid_to` is the next version's `valid_from`, null while the version is current.

    Arguments are CTE (or relation) names and column names. `deletions` (with `unique_key` and
    `detected_at`) is given for snapshots with `hard_deletes: new_record`, else none.
    Returns a complete `select` (it may be used as a CTE body) with `unique_key`, the tracked
    and carried columns, `is_deleted`, `changed_at`, `recorded_at`, `valid_from`, `valid_to`,
    `is_current`.
#}
{% macro scd_versions(
    snapshot,
    unique_key,
    changed_at,
    observed_at,
    tracked_columns,
    carried_columns=[],
    deletions=none
) -%}
    {%- set state_parts = [] -%}
    {%- for column in tracked_columns + ['is_deleted'] -%}
        {%- do state_parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '<null>')") -%}
        {%- if not loop.last %}{% do state_parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {%- set by_key = "partition by " ~ unique_key ~ " order by recorded_at" -%}

    with recorded as (
        select
            snapshot_rows.{{ unique_key }},
            {%- for column in tracked_columns + carried_columns %}
            snapshot_rows.{{ column }},
            {%- endfor %}
            {%- if deletions is not none %}
            coalesce(snapshot_rows.dbt_is_deleted = 'True', false) as is_deleted,
            case
                when snapshot_rows.dbt_is_deleted = 'True' then snapshot_rows.dbt_valid_from
                else snapshot_rows.recorded_at
            end as recorded_at,
            case
                when snapshot_rows.dbt_is_deleted = 'True' then null
                else snapshot_rows.{{ changed_at }}
            end as source_changed_at,
            case
                when snapshot_rows.dbt_is_deleted = 'True' then snapshot_rows.dbt_valid_from
                else snapshot_rows.{{ observed_at }}
            end as observed_at
            {%- else %}
            false as is_deleted,
            snapshot_rows.recorded_at,
            snapshot_rows.{{ changed_at }} as source_changed_at,
            snapshot_rows.{{ observed_at }} as observed_at
            {%- endif %}
        from {{ snapshot }} as snapshot_rows
    ),

    {%- if deletions is not none %}

    detections as (
        select
            recorded.{{ unique_key }},
            recorded.recorded_at,
            max(deletions.detected_at) as detected_at
        from recorded
        inner join {{ deletions }} as deletions
            on
                recorded.{{ unique_key }} = deletions.{{ unique_key }}
                and deletions.detected_at <= recorded.recorded_at
        where recorded.is_deleted
        group by recorded.{{ unique_key }}, recorded.recorded_at
    ),
    {%- endif %}

    dated as (
        select
            recorded.*,
            {%- if deletions is not none %}
            coalesce(
                recorded.source_changed_at, detections.detected_at, recorded.recorded_at
            ) as changed_at,
            {%- else %}
            coalesce(recorded.source_changed_at, recorded.recorded_at) as changed_at,
            {%- endif %}
            {{ dbt.hash(dbt.concat(state_parts)) }} as state_hash
        from recorded
        {%- if deletions is not none %}
        left join detections
            on
                recorded.{{ unique_key }} = detections.{{ unique_key }}
                and recorded.recorded_at = detections.recorded_at
        {%- endif %}
    ),

    compared as (
        select
            dated.*,
            lag(dated.state_hash) over ({{ by_key }}) as previous_state_hash
        from dated
    ),

    distinct_states as (
        select * from compared
        where previous_state_hash is null or state_hash != previous_state_hash
    ),

    started as (
        select
            distinct_states.*,
            case
                when lag(changed_at) over ({{ by_key }}) is null then changed_at
                when changed_at > lag(changed_at) over ({{ by_key }}) then changed_at
                else observed_at
            end as valid_from
        from distinct_states
    ),

    bounded as (
        select
            {{ unique_key }},
            {%- for column in tracked_columns + carried_columns %}
            {{ column }},
            {%- endfor %}
            is_deleted,
            changed_at,
            recorded_at,
            valid_from,
            lead(valid_from) over ({{ by_key }}) as valid_to
        from started
    )

    select
        bounded.*,
        bounded.valid_to is null as is_current
    from bounded
{%- endmacro %}
