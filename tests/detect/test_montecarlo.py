import numpy as np

from distillscope.detect.montecarlo import names_rng, sequential_p


def test_drawing_stops_at_the_draw_that_makes_the_stop_count():
    # batches of 4: exceedances at draws 2, 5, 6 (1-based) -> the third is the 6th draw
    batches = iter([np.array([0, 1, 0, 0], bool), np.array([1, 1, 0, 1], bool), np.array([1, 1, 1, 1], bool)])
    assert sequential_p(batches, stop=3, limit=100) == (3 / 6, 6, 3)


def test_without_enough_exceedances_the_limit_ends_drawing_with_the_plus_one_p():
    batches = (np.array([True, False, False, False]) for _ in range(100))
    p, drawn, hits = sequential_p(batches, stop=10, limit=12)
    assert (drawn, hits) == (12, 3) and p == 4 / 13


def test_the_generator_depends_on_the_names_not_their_order():
    a = names_rng(["acct_b", "acct_a"]).integers(1 << 30, size=4)
    b = names_rng(["acct_a", "acct_b"]).integers(1 << 30, size=4)
    c = names_rng(["acct_a", "acct_c"]).integers(1 << 30, size=4)
    assert (a == b).all() and not (a == c).all()
