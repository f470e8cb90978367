"""Calibration against a log that is a quarter campaign accounts (issue 12, detcalib)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distillscope.detect import calibrate as cal

BENIGN, CAMPAIGN = 1500, 500  # a quarter of the log's accounts are campaign accounts
MU, SIGMA = 8.0, 1.35  # the benign accounts' reach on development seed 2702: 7.87 / 1.36


def _reach(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    benign = rng.normal(MU, SIGMA, BENIGN)
    # campaigns collect more than most accounts (hydra members, solo extractors): upper contamination only
    campaign = rng.normal(MU + 2.6 * SIGMA, 1.2, CAMPAIGN)
    return benign, np.concatenate([benign, campaign])


@pytest.mark.parametrize("seed", range(5))
def test_the_one_sided_fit_recovers_the_benign_location_and_scale_under_contamination(seed: int) -> None:
    benign, log = _reach(seed)
    med, mad = cal.median_mad(log)
    # the median and MAD are pulled up by the campaigns (as on 2702: 8.53 / 2.16 against 7.87 / 1.36)
    assert med > MU + 0.35 * SIGMA and mad > 1.3 * SIGMA
    m, s = cal.lower_location_scale(log, 0.5)
    assert abs(m - MU) < 0.2 * SIGMA
    assert abs(s - SIGMA) < 0.12 * SIGMA
    # with no campaigns it agrees with the median and MAD
    mb, sb = cal.lower_location_scale(benign, 0.5)
    assert abs(mb - MU) < 0.1 * SIGMA and abs(sb - SIGMA) < 0.1 * SIGMA


def test_the_one_sided_fit_is_wider_for_a_heavy_tailed_bulk() -> None:
    """A heavy lower tail widens the scale (read as a heavy upper one): more conservative than MAD."""
    rng = np.random.default_rng(0)
    heavy = rng.standard_t(4, 5000)
    _, mad = cal.median_mad(heavy)
    _, s = cal.lower_location_scale(heavy, 0.01)
    assert s > 1.03 * mad


def test_a_solo_extractor_stands_out_against_a_log_that_is_a_quarter_campaigns() -> None:
    """Through ``calibrate`` with the detector's reach spec: an account 4 benign SD above the benign accounts
    was ~2.3 robust SD above a log a quarter of which is campaigns (p ~ 0.01, missing the gates); calibrated
    one-sided it is ~4 SD (p < 1e-4), while the benign accounts' tail stays as rare as the normal's."""
    from distillscope.detect import scoring

    benign, log = _reach(1)
    table = pd.DataFrame({"n": 100.0, "reach": np.append(log, MU + 4 * SIGMA)})
    _, p_old = cal.calibrate(table, [cal.SignalSpec("reach", 0.5, banded=False)])
    (spec,) = [s for s in scoring.SPECS if s.column == "reach"]
    z_new, p_new = cal.calibrate(table, [spec])
    assert p_old["reach"].iloc[-1] > 1e-3
    assert p_new["reach"].iloc[-1] < 1e-4
    # benign accounts: no more below p = 1e-3 than a normal tail allows (1.5 of 1,500 expected)
    assert int((p_new["reach"].iloc[:BENIGN] <= 1e-3).sum()) <= 5
    assert float(np.median(z_new["reach"].iloc[:BENIGN])) == pytest.approx(0.0, abs=0.2)
