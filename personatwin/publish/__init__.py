"""Publishing: release folders (CSV/JSON/Parquet, manifest), the HTML privacy report, charts and history page."""
