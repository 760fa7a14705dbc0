"""Measurement: risk metrics, linkage attacks, utility, the privacy criteria and their glossary, Anonymeter."""
