{{ config(materialized='table') }}
{#- A table, not a view: dbt_project.yml (models: staging) says why. -#}
with versions as (
    select * from {{ ref('base_successfactors__learning_item_versions') }}
),

latest_versions as (
    {{ latest_versions(
        versions='versions',
        unique_key=['component_type_id', 'component_id'],
        newest_first=['revised_at', 'extracted_at', 'load_id', 'raw_row_id'],
        columns=[
            'component_type_id',
            'component_id',
            'title',
            'description',
            'component_classification',
            'domain_id',
            'domain_description',
            'delivery_method_id',
            'delivery_method_description',
            'credit_hours',
            'cpe_hours',
            'contact_hours',
            'total_length_hours',
            'is_active',
            'revised_at',
            'extracted_at',
        ],
    ) }}
),

-- the catalogs the latest revision was received in (one raw row per catalog)
catalogs as (
    select distinct
        versions.component_type_id,
        versions.component_id,
        versions.catalog_id
    from versions
    inner join latest_versions
        on
            versions.component_type_id = latest_versions.component_type_id
            and versions.component_id = latest_versions.component_id
            and versions.revised_at = latest_versions.revised_at
    where versions.catalog_id is not null
),

catalog_lists as (
    select
        component_type_id,
        component_id,
        {{ dbt.listagg("catalog_id", "','", "order by catalog_id") }} as catalog_ids
    from catalogs
    group by component_type_id, component_id
),

current_items as (
    select
        latest_versions.component_type_id,
        latest_versions.component_id,
        catalog_lists.catalog_ids,
        latest_versions.title,
        latest_versions.description,
        latest_versions.component_classification,
        latest_versions.domain_id,
        latest_versions.domain_description,
        latest_versions.delivery_method_id,
        latest_versions.delivery_method_description,
        latest_versions.credit_hours,
        latest_versions.cpe_hours,
        latest_versions.contact_hours,
        latest_versions.total_length_hours,
        latest_versions.is_active,
        latest_versions.revised_at,
        latest_versions.extracted_at
    from latest_versions
    left join catalog_lists
        on
            latest_versions.component_type_id = catalog_lists.component_type_id
            and latest_versions.component_id = catalog_lists.component_id
)

select * from current_items
