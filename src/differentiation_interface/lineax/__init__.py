"""lineax operators (API section 13). Work in progress."""
