{#
    Rebuilding the snapshots from the raw change log (scripts/rebuild_history.py).

    The raw tables keep every version the loader received, under the load that brought it.
    If the snapshot tables are lost, replaying the loads in order rebuilds them: one
    `dbt snapshot` per loader run, each seeing the raw tables as they stood after that run
    (`history_replay.load_id`: rows of later loads are left out) and a clock set to when that
    run's loads committed (`history_replay.at`), so what depends on "now" (the org unit
    segment in effect, `recorded_at`, deletion rows) reads as it did then.

    `history_replay` is set only by the rebuild command: {load_id: '1764124567.123456',
    at: '2026-11-26 02:15:07.123456'}.
#}

{#- The replay position as {load_id, at}, or none in an ordinary run. -#}
{% macro history_replay() -%}
    {%- set replay = var('history_replay', none) -%}
    {%- if not replay -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set load_id = replay.get('load_id') | string -%}
    {%- set at = replay.get('at') | string -%}
    {%- if not modules.re.fullmatch('[0-9]+(\.[0-9]+)?', load_id)
        or not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.]+', at) -%}
        {{ exceptions.raise_compiler_error(
            "history_replay must be {load_id: <a dlt load id>, at: <a UTC timestamp>}, not "
            ~ replay
        ) }}
    {%- endif -%}
    {{ return({'load_id': load_id, 'at': at}) }}
{%- endmacro %}
