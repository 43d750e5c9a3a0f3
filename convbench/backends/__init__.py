"""Backends: one module per software stack behind the protocol in :mod:`.base`; the registry
(:mod:`.registry`) maps names to modules and imports them lazily."""
