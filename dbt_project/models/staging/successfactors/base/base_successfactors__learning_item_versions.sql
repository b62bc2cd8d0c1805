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
)

select * from renamed
