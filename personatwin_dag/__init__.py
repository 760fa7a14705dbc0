"""The PersonaTwin Dagster code location: assets per release stage, partitioned by release period."""
