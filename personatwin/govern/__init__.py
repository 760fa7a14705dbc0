"""Release governance: disclosure review of staged releases before publication (issue 15)."""
