"""scipy interoperability (API section 13). Work in progress."""
