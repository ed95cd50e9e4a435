"""`make demo`: the whole loop on this machine, without Docker (see demo/__main__.py)."""
