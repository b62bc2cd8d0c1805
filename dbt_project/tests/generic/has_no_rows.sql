{#- The model lists problems; every row it holds is one (e.g. versions not applied). -#}
{% test has_no_rows(model) %}

select * from {{ model }}

{% endtest %}
