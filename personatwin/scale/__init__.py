"""Sharded releases: the event-level stages run per shard of whole buckets, on Dask workers or one shard after
another, and give the single-process engine's result (``personatwin.protect.buckets`` makes the draws agree)."""
