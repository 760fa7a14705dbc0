"""The shared vocabulary: data contract (schema, codes), domains and hierarchies, policies, keys, errors."""
