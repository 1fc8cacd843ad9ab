"""Composition between engines: ``DifferentiateWith`` (API section 11). Work in progress."""
