"""Protection stages: prepared data, merge (microaggregation), persona attributes, l-diversity repair, noise."""
