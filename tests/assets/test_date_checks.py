"""The date-precision checks judge every released row through its distinct dates: one finer date fails them."""

import pandas as pd

from assets.noise import no_date_finer_than_precision


def events(dates, ends):
    return pd.DataFrame({"event_date": pd.to_datetime(dates), "end_date": pd.to_datetime(ends)})


def test_one_date_finer_than_the_precision_fails_the_check():
    ok = events(["2024-03-01"] * 5000 + ["2024-04-01"] * 5000, [None] * 9999 + ["2024-05-01"])
    assert no_date_finer_than_precision("month", ok).passed
    bad_start = events(["2024-03-01"] * 9999 + ["2024-03-17"], [None] * 10000)
    bad_end = events(["2024-03-01"] * 10000, [None] * 9999 + ["2024-05-02"])
    for bad in (bad_start, bad_end):
        result = no_date_finer_than_precision("month", bad)
        assert not result.passed and "failed" in result.description
    assert no_date_finer_than_precision("day", bad_start).passed
