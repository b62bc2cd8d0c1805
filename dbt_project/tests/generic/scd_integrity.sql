{#
    A slowly changing dimension (type 2) tells one consistent history per key: exactly one
    current row, each version ends after it starts, the next version starts exactly where the
    previous one ends (no overlap, no gap), and `is_current` agrees with an open `valid_to`.
    Returns one row per problem, with what is wrong.
#}
{% test scd_integrity(model, key, valid_from='valid_from', valid_to='valid_to', is_current='is_current') %}

with versions as (
    select
        {{ key }} as entity_key,
        {{ valid_from }} as valid_from,
        {{ valid_to }} as valid_to,
        {{ is_current }} as is_current,
        lead({{ valid_from }}) over (
            partition by {{ key }} order by {{ valid_from }}
        ) as next_valid_from,
        sum(case when {{ is_current }} then 1 else 0 end) over (
            partition by {{ key }}
        ) as current_rows
    from {{ model }}
),

problems as (
    select entity_key, valid_from, valid_to, 'not exactly one current row' as problem
    from versions
    where current_rows != 1

    union all

    select entity_key, valid_from, valid_to, 'valid_from is missing' as problem
    from versions
    where valid_from is null

    union all

    select entity_key, valid_from, valid_to, 'valid_to is not after valid_from' as problem
    from versions
    where valid_to is not null and not valid_from < valid_to

    union all

    select entity_key, valid_from, valid_to, 'is_current disagrees with valid_to' as problem
    from versions
    where (is_current and valid_to is not null) or (not is_current and valid_to is null)

    union all

    select entity_key, valid_from, valid_to, 'overlaps the next version' as problem
    from versions
    where next_valid_from is not null and (valid_to is null or next_valid_from < valid_to)

    union all

    select entity_key, valid_from, valid_to, 'gap before the next version' as problem
    from versions
    where next_valid_from is not null and next_valid_from > valid_to
)

select * from problems

{% endtest %}
