"""What every published figure means: one glossary for the summary, the report, the manifest and the UI."""

METRIC_MEANINGS = {
    "k_anonymity": "smallest number of people sharing one published QI combination",
    "prosecutor_risk_max": "highest chance of re-identifying one known person (1/f)",
    "records_at_risk": "share of people whose individual risk exceeds the threshold",
    "population_average_risk": "expected share of people re-identified by matching QIs (#classes / n)",
    "journalist_risk": "highest risk when the attacker matches against the whole population",
    "marketer_risk": "expected share re-identified against the whole population",
    "l_diversity_distinct": "fewest distinct true outcomes of one event type (or values of a sensitive attribute) "
                            "inside one persona holding at least k such events",
    "l_diversity_entropy": "entropy l: effective number of true outcomes in the least diverse persona and type",
    "t_closeness": "largest distance of a persona's true outcome mix for one event type (at least k events) from "
                   "that type's overall mix",
    "demographic_concentration_risk": "share of people with a rare QI combination still published exactly",
    "event_pattern_concentration_risk": "share of people whose m events alone single out one persona",
    "external_linkage_risk": "chance an attacker knowing QIs and m events picks the right person",
    "persona_single_out_rate": "share of those attackers whose knowledge leaves exactly one persona, the target's",
    "release_risk": "the larger of population average and external linkage risk, compared with the target",
    "series_risk": "chance of at least one correct re-identification over every release of the window a person "
                   "appears in (same attacker in each release), compared with the target",
    "series_single_out_rate": "share of people whose persona is singled out in at least one release of the window",
}

UTILITY_MEANINGS = {
    "information_loss": "share of the QI and event-pattern variance lost by grouping people (100 SSE/SST, %)",
    "tvd_outcome": "total variation distance of the outcome mix, original vs released (after PRAM)",
    "max_rate_diff_pp": "largest gap between an original and an unbiased released group rate, in percentage points",
    "min_group_coverage": "smallest share of a group's events kept under its own published label",
    "utility_gate_failures": "number of blocking utility gates that fail",
    "events_preserved": "1 when event counts per type and period are identical in input and release",
}
PARAMETER_MEANINGS = {
    "level": "privacy level preset the policy starts from",
    "k": "fewest people in one persona (k-anonymity)",
    "date_precision": "finest date unit published (event dates are coarsened to it)",
    "location_level": "steps up the location hierarchy (1 = zip3, 2 = county-like prefix, ...)",
    "qi_levels": "hierarchy level published for each quasi-identifier (e.g. age bands)",
    "pram_p": "probability that an event keeps its true outcome (PRAM)",
    "attacker_knowledge": "m: true events the simulated attacker knows about a target",
    "l_diversity": "fewest distinct true outcomes required per event type inside one persona (holding at least k "
                   "events of the type)",
    "target_risk": "highest release risk the policy accepts",
    "anonymeter_max_risk": "highest Anonymeter singling-out, linkability or (pooled) inference risk the policy "
                           "accepts (none: not gated)",
    "max_single_out_rate": "highest persona single-out rate the policy accepts (none: reported, not gated)",
    "small_cell_people": "fewest distinct people behind a figure the reports show (smaller cells and their "
                         "complements are hidden)",
    "max_t_closeness": "highest t-closeness (per event type, true outcomes) the policy accepts (none: reported, not "
                       "gated)",
    "series_window_months": "months within which releases of the population count together in the series risk "
                            "(none: all time)",
    "series_expected_releases": "each release's own linkage risk is held to target_risk divided by this, so the "
                                "window's first releases leave budget for the later ones",
    "max_series_single_out_rate": "highest share of people whose persona may be singled out in at least one "
                                  "release of the window (none: reported, not gated)",
    "dp_rho_per_release": "zCDP budget each release's differentially private tables spend (rho)",
    "dp_rho_cap": "largest total rho the DP tables of one window may spend",
    "dp_delta": "delta at which the DP tables' epsilon is reported",
    "dp_max_events_per_person": "events a person contributes to one release's DP tables at most (the bound behind "
                                "their sensitivity)",
}
ATTACK_MEANINGS = {
    "singling_out": "share of the attacker's predicates, built from the release, that isolate exactly one person of "
                    "the release beyond what they do for people outside it",
    "linkability": "share of people whose demographic record and event record an attacker joins through the release, "
                   "beyond the same attempt on people outside it",
    "inference": "how much better an attacker guesses a person's outcomes from the release for people in it than for "
                 "people outside it (every secret pooled: one guess per person and secret)",
}
