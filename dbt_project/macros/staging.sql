{#
    Patterns the staging models of every source share. The raw tables are append-only logs
    (every version the loader received, deletions found by full refreshes); the `base/`
    models rename and cast them, the `stg_` models built on them say what is current.
#}

{#- The deletions a loader source recorded (`raw_<source>.deletions`), renamed and cast: one
    row per key a full refresh found gone, for every resource of the source. -#}
{% macro base_deletions(source_name) -%}
    with source as (
        select * from {{ raw_table(source_name, 'deletions') }}
    ),

    renamed as (
        select
            trim(record_key) as record_key,
            resource,
            _dlt_load_id as load_id,
            {{ to_utc_timestamp('detected_at') }} as detected_at
        from source
    )

    select * from renamed
{%- endmacro %}


{#
    The latest version of each record of a relation that holds every version received.

    `unique_key` is a column or a list of columns naming the record; `newest_first` the
    columns that order its versions, the latest first (ties broken by the later column);
    `columns` what to keep. With `deletions` (a relation with `unique_key` and
    `detected_at`, for a single-column key), a record that a full refresh found gone after
    its latest fetch is left out: a snapshot reading the result closes it as deleted, and a
    record fetched again afterwards is back. Returns a complete `select` (it may be used as
    a CTE body).
#}
{% macro latest_versions(versions, unique_key, newest_first, columns, deletions=none) -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- if deletions is not none and keys | length != 1 -%}
        {{ exceptions.raise_compiler_error(
            "latest_versions: deletions need a single-column unique_key, not " ~ keys
        ) }}
    {%- endif -%}
    with ranked as (
        select
            *,
            row_number() over (
                partition by {{ keys | join(', ') }}
                order by
                {%- for column in newest_first %}
                    {{ column }} desc{{ "," if not loop.last }}
                {%- endfor %}
            ) as version_rank
            {%- if deletions is not none %},
            max(extracted_at) over (partition by {{ keys[0] }}) as last_extracted_at
            {%- endif %}
        from {{ versions }}
    ),
    {%- if deletions is not none %}

    last_detections as (
        select
            {{ keys[0] }},
            max(detected_at) as detected_at
        from {{ deletions }}
        group by {{ keys[0] }}
    ),
    {%- endif %}

    newest as (
        select
            {%- for column in columns %}
            ranked.{{ column }}{{ "," if not loop.last }}
            {%- endfor %}
        from ranked
        {%- if deletions is not none %}
        left join last_detections
            on ranked.{{ keys[0] }} = last_detections.{{ keys[0] }}
        {%- endif %}
        where
            ranked.version_rank = 1
            {%- if deletions is not none %}
            -- gone from a full refresh and not seen since: the snapshot closes it as deleted
            and (
                last_detections.detected_at is null
                or last_detections.detected_at <= ranked.last_extracted_at
            )
            {%- endif %}
    )

    select * from newest
{%- endmacro %}
