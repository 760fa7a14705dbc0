"""The release: one protection pass, the auto-adjust loop, and the Release object with its verdict."""
