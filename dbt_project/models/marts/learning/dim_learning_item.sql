with catalog_items as (
    select * from {{ ref('stg_successfactors__learning_items') }}
),

assignments as (
    select * from {{ ref('stg_successfactors__learning_assignments') }}
),

completions as (
    select * from {{ ref('stg_successfactors__learning_completions') }}
),

certification_validity as (
    select * from {{ ref('certification_validity') }}
),

-- items learners were assigned, completed or attempted, as those records describe them (an
-- item retired from the catalogue, or never visible in one, still has its history)
mentions as (
    select
        component_type_id,
        component_id,
        title,
        credit_hours,
        cpe_hours,
        contact_hours,
        true as describes_hours,
        last_seen_at as mentioned_at
    from assignments

    union all

    select
        component_type_id,
        component_id,
        title,
        -- a failed attempt awards no hours: its zeros do not describe the item
        case when is_successful then credit_hours end as credit_hours,
        case when is_successful then cpe_hours end as cpe_hours,
        case when is_successful then contact_hours end as contact_hours,
        is_successful as describes_hours,
        extracted_at as mentioned_at
    from completions
),

ranked_mentions as (
    select
        *,
        row_number() over (
            partition by component_type_id, component_id
            order by
                case when describes_hours then 0 else 1 end,
                mentioned_at desc,
                title asc
        ) as mention_rank
    from mentions
),

uncatalogued_items as (
    select
        ranked_mentions.component_type_id,
        ranked_mentions.component_id,
        cast(null as {{ dbt.type_string() }}) as catalog_ids,
        ranked_mentions.title,
        cast(null as {{ dbt.type_string() }}) as description,
        cast(null as {{ dbt.type_string() }}) as component_classification,
        cast(null as {{ dbt.type_string() }}) as domain_id,
        cast(null as {{ dbt.type_string() }}) as domain_description,
        cast(null as {{ dbt.type_string() }}) as delivery_method_id,
        cast(null as {{ dbt.type_string() }}) as delivery_method_description,
        ranked_mentions.credit_hours,
        ranked_mentions.cpe_hours,
        ranked_mentions.contact_hours,
        cast(null as {{ dbt.type_float() }}) as total_length_hours,
        cast(null as {{ dbt.type_boolean() }}) as is_active,
        false as is_in_catalog,
        cast(null as {{ dbt.type_timestamp() }}) as revised_at
    from ranked_mentions
    left join catalog_items
        on
            ranked_mentions.component_type_id = catalog_items.component_type_id
            and ranked_mentions.component_id = catalog_items.component_id
    where ranked_mentions.mention_rank = 1 and catalog_items.component_id is null
),

items as (
    select
        component_type_id,
        component_id,
        catalog_ids,
        title,
        description,
        component_classification,
        domain_id,
        domain_description,
        delivery_method_id,
        delivery_method_description,
        credit_hours,
        cpe_hours,
        contact_hours,
        total_length_hours,
        is_active,
        true as is_in_catalog,
        revised_at
    from catalog_items

    union all

    select * from uncatalogued_items
),

described as (
    select
        {{ surrogate_key([
            'items.component_type_id', 'items.component_id',
        ]) }} as learning_item_key,
        items.component_id,
        items.component_type_id,
        items.catalog_ids,
        items.title,
        items.description,
        items.component_classification,
        items.domain_id,
        items.domain_description,
        items.delivery_method_id,
        items.delivery_method_description,
        items.credit_hours,
        items.cpe_hours,
        items.contact_hours,
        items.total_length_hours,
        certification_validity.validity_days,
        items.component_type_id = 'CERT' as is_certification,
        items.is_active,
        items.is_in_catalog,
        items.revised_at
    from items
    left join certification_validity
        on items.component_id = certification_validity.component_id
)

select * from described
