"""Input: file decoding, the two-table contract, column mappings, direct-identifier screening, loaders,
synthetic data."""
