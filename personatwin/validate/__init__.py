"""Validation: type coercion, domain vocabulary, date sanity, id integrity; rejected rows quarantined with a reason."""
