#!/usr/bin/python3
"""Writes mannwhitney.golden.json: SciPy's Mann-Whitney U test on fixed
sample pairs, the reference for TestMannWhitneyGolden.

For each pair: U of x, and the two-sided p-value of
scipy.stats.mannwhitneyu with method "asymptotic" (normal approximation,
tie and continuity corrections), "exact" (only without ties, where it is
defined, and for n1*n2 <= 3000, as SciPy 1.10's table of counts
grows with n1*n2*n1*n2) and "auto" (SciPy's default, which picks exact when one sample
has at most 8 points and there are no ties).

Run from analysis/testdata with Debian's SciPy (apt-get install
python3-scipy; this file was made with SciPy 1.10.1, NumPy 1.24.2):

    /usr/bin/python3 mannwhitney_golden.py > mannwhitney.golden.json

Samples are stored as repr() strings so that every float (and inf)
reaches Go bit for bit; p-values are JSON numbers (repr round-trips).
"""

import json
import sys

import numpy as np
import scipy
from scipy.stats import _mannwhitneyu as _mwu
from scipy.stats import mannwhitneyu


def case(name, x, y):
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    xy = x + y
    ties = len(set(xy)) != len(xy)
    row = {"name": name, "x": [repr(v) for v in x], "y": [repr(v) for v in y]}
    a = mannwhitneyu(x, y, method="asymptotic")
    auto = mannwhitneyu(x, y)  # SciPy's defaults: two-sided, auto, continuity
    row["u"] = float(a.statistic)
    row["p_asymptotic"] = float(a.pvalue)
    row["p_exact"] = None
    if not ties and len(x) * len(y) <= 3000:
        # SciPy 1.10 keeps one memo of counts sized by the largest m, n and
        # U asked so far; a fresh one per pair keeps it small.
        _mwu._mwu_state = _mwu._MWU()
        row["p_exact"] = float(mannwhitneyu(x, y, method="exact").pvalue)
    row["p_auto"] = float(auto.pvalue)
    row["auto"] = "exact" if (min(len(x), len(y)) <= 8 and not ties) else "asymptotic"
    return row


def seq(start, n):
    return list(range(start, start + n))


rows = [
    # scipy.stats.mannwhitneyu's documentation example.
    case("scipy documentation", [19, 22, 16, 29, 24], [20, 11, 17, 12]),
    # Issue 17: 5 x 7 with U = 30, exact 0.0480 vs normal 0.0513.
    case("5x7 U=30", [12, 11, 10, 8, 4], [1, 2, 3, 5, 6, 7, 9]),
    case("ties", [1, 2, 2, 3], [2, 3, 3, 4]),
    case("all tied", [1, 1], [1, 1, 1]),
    case("one each", [1], [2]),
    case("one each, reversed", [2], [1]),
    case("1x8", [4.5], seq(1, 8)),
    case("8x8 separated", seq(1, 8), seq(9, 8)),
    case("8x8 interleaved", seq(1, 16)[::2], seq(1, 16)[1::2]),
    case("8x9 exact", seq(1, 8), [v + 0.5 for v in seq(5, 9)]),
    case("9x9 asymptotic", seq(1, 9), [v + 0.5 for v in seq(5, 9)]),
    # No infinities: SciPy 1.10's rankdata ranks them NaN (U and p NaN);
    # TestMannWhitney ranks them by hand.
    # Strong effects: p below 1e-7, where 1 - erf loses digits, and
    # beyond z = 8.3, where it gives 0.
    case("13x31 separated", seq(100, 13), seq(1, 31)),
    case("20x20 separated", seq(1, 20), seq(21, 20)),
    case("31x31 separated", seq(32, 31), seq(1, 31)),
    case("50x50 separated", seq(1, 50), seq(51, 50)),
    case("200x200 separated", seq(201, 200), seq(1, 200)),
    case("3x500 exact, separated", [1001, 1002, 1003], seq(1, 500)),
]

rng = np.random.default_rng(20250617)
sizes = [(2, 3), (3, 3), (4, 6), (5, 7), (6, 6), (7, 8), (8, 8), (8, 20), (3, 40),
         (8, 300), (9, 9), (10, 12), (13, 31), (31, 31), (50, 60), (100, 100), (300, 280)]
for n1, n2 in sizes:
    for shift in (0.0, 0.5, 1.0, 2.0, 4.0):
        # Five decimals keep the file short; ties stay rare (each row says).
        x = np.round(rng.normal(shift, 1.0, n1), 5)
        y = np.round(rng.normal(0.0, 1.0, n2), 5)
        rows.append(case(f"normal {n1}x{n2} shift {shift}", x, y))
        # Rounded to one decimal: ties, so the tie-corrected normal.
        rows.append(case(f"normal {n1}x{n2} shift {shift}, ties", np.round(x, 1), np.round(y, 1)))
# Error ratios as the judge sees them: errors of 2,000 requests per step.
for n1, n2, p1 in [(6, 31, 0.005), (6, 31, 0.055), (31, 31, 0.006), (31, 31, 0.015)]:
    x = rng.binomial(2000, p1, n1) / 2000
    y = rng.binomial(2000, 0.005, n2) / 2000
    rows.append(case(f"error ratios {n1}x{n2} {p1} vs 0.005", x, y))

# One case a line, so that a diff shows which cases changed.
head = json.dumps({"scipy": scipy.__version__, "numpy": np.__version__})[:-1]
sys.stdout.write(head + ', "cases": [\n' + ",\n".join(json.dumps(r) for r in rows) + "\n]}\n")
