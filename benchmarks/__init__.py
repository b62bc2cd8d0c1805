"""``make bench``: the loader, its floor and dbt at scale, measured in one run on one machine."""
