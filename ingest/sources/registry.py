"""The sources the loader knows, in the order a run lists them.

Adding a source: write its module (ending in ``SOURCE = Source(...)``, see ``source.py``),
add it to ``SOURCES`` here, add its dbt staging folder, and document its settings in README.
"""

from __future__ import annotations

from ingest.errors import ConfigurationError
from ingest.sources import learning, salesforce, successfactors
from ingest.sources.source import Source

SOURCES: dict[str, Source] = {
    source.name: source for source in (salesforce.SOURCE, successfactors.SOURCE, learning.SOURCE)
}


def register(source: Source) -> None:
    """Add a source at run time (a plug-in, or a test's small source)."""
    if source.name in SOURCES and SOURCES[source.name] is not source:
        raise ValueError(f"a different source named {source.name!r} is registered already")
    SOURCES[source.name] = source


def names() -> list[str]:
    return list(SOURCES)


def get(name: str) -> Source:
    """The source called ``name``; a ConfigurationError listing the known ones otherwise."""
    if name not in SOURCES:
        raise ConfigurationError(f"unknown source {name!r}; choose from {', '.join(SOURCES)}")
    return SOURCES[name]
