"""Understanding: the intent catalog, the router and its training, and the slot parsers."""
