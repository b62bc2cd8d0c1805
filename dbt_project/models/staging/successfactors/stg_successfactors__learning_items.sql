with source as (
    select * from {{ raw_table('successfactors', 'learning_items') }}
),

renamed as (
    select
        trim(component_type_id) as component_type_id,
        trim(component_id) as component_id,
        nullif(trim(catalog_id), '') as catalog_id,
        nullif(trim(title), '') as title,
        nullif(trim(description), '') as description,
        nullif(trim(component_classification), '') as component_classification,
        nullif(trim(domain_id), '') as domain_id,
        nullif(trim(domain_desc), '') as domain_description,
        nullif(trim(delivery_method_id), '') as delivery_method_id,
        nullif(trim(delivery_method_desc), '') as delivery_method_description,
        credit_hours,
        cpe_hours,
        contact_hours,
        total_length as total_length_hours,
        active as is_active,
        {{ epoch_milliseconds_to_timestamp('revision_date') }} as revised_at,
        {{ to_utc_timestamp('_extracted_at') }} as extracted_at,
        _dlt_load_id as load_id,
        _dlt_id as raw_row_id
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by component_type_id, component_id
            order by
                revised_at desc,
                extracted_at desc,
                load_id desc,
                raw_row_id desc
        ) as version_rank
    from renamed
),

latest_versions as (
    select * from ranked
    where version_rank = 1
),

-- the catalogs the latest revision was received in (one raw row per catalog)
catalogs as (
    select distinct
        renamed.component_type_id,
        renamed.component_id,
        renamed.catalog_id
    from renamed
    inner join latest_versions
        on
            renamed.component_type_id = latest_versions.component_type_id
            and renamed.component_id = latest_versions.component_id
            and renamed.revised_at = latest_versions.revised_at
    where renamed.catalog_id is not null
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
