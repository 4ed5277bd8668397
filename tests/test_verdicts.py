"""Claims, verdicts and run health on hand-made records (no training)."""

from __future__ import annotations

import pytest

from ganzoo.report.verdicts import (AGREES, DISAGREES, INCONCLUSIVE, Claim, Criterion, Health, bootstrap_diff,
                             health_counts, reference_health, setting_sources, sign_test, verdicts)


def rec(setting, seed, fid=None, is_=None, status="finished", series=None, extra=None):
    values = {}
    if fid is not None:
        values["fid2k@mnist-cnn/fid"] = {"best": fid, "best_step": 100, "final": fid, "protocol_hash": "h1"}
    if is_ is not None:
        values["is2k@mnist-cnn/is"] = {"best": is_, "best_step": 100, "final": is_, "protocol_hash": "h2"}
    values.update(extra or {})
    return {"key": f"{setting}-{seed}", "setting": setting, "seed": seed, "status": status,
            "values": values, "series": series or [], "config": {"train": {"g_steps": 1000}}}


def paired_records(treatment_better: int, treatment_worse: int):
    out = []
    for i in range(treatment_better + treatment_worse):
        base = 30.0 + i
        treat = base - 2 if i < treatment_better else base + 2
        for seed in (0, 1):
            out.append(rec({"opt": f"o{i}", "method": "bn"}, seed, fid=base + seed * 0.1))
            out.append(rec({"opt": f"o{i}", "method": "selfmod"}, seed, fid=treat + seed * 0.1))
    return out


PAIRED = Claim(id="p", claim="self-mod lowers FID", paper="86%", metric="fid", test="paired-sign",
               axis="method", baseline="bn", treatment="selfmod")


def test_sign_test_matches_the_binomial():
    assert sign_test(10, 0) == pytest.approx(2 / 2 ** 10)
    assert sign_test(3, 3) == pytest.approx(1.0)
    assert sign_test(0, 0) is None


@pytest.mark.parametrize("better,worse,expected", [(12, 0, AGREES), (0, 12, DISAGREES), (7, 5, INCONCLUSIVE)])
def test_paired_sign_verdict_follows_the_rule(better, worse, expected):
    (v,) = verdicts([PAIRED], paired_records(better, worse))
    assert v.verdict == expected
    assert v.detail["wins"] == better and v.detail["losses"] == worse
    assert v.n == better + worse


def test_an_unlearned_reference_makes_every_verdict_inconclusive():
    (v,) = verdicts([PAIRED], paired_records(12, 0), reference_learned=False)
    assert v.verdict == INCONCLUSIVE and v.detail["computed"] == AGREES


def test_a_healthy_paired_claim_leaves_out_settings_with_a_collapsed_run():
    # 14 settings: self-mod wins the first 8 (both sides learned: IS 8) and loses the other 6, where
    # its runs collapsed (IS 1 on seed 0). The plain count is 8 of 14 (inconclusive); over the
    # settings where nothing collapsed it is 7 of 7 (agrees): a BN run that collapsed (setting 0)
    # drops its setting too, as the filter is on the pair, not on one side.
    recs = []
    for r in paired_records(8, 6):
        i = int(r["setting"]["opt"][1:])
        collapsed = (i >= 8 and r["setting"]["method"] == "selfmod" and r["seed"] == 0) or \
                    (i == 0 and r["setting"]["method"] == "bn" and r["seed"] == 1)
        r["values"]["is2k@mnist-cnn/is"] = {"best": 8.0, "best_step": 100, "final": 1.0 if collapsed else 8.0,
                                            "protocol_hash": "h2"}
        recs.append(r)
    health = Health(collapsed_metric="is", collapsed_below=2.0)
    healthy = PAIRED.model_copy(update={"healthy": True})
    plain, kept = verdicts([PAIRED, healthy], recs, health=health)
    assert (plain.detail["wins"], plain.detail["losses"], plain.verdict) == (8, 6, INCONCLUSIVE)
    assert (kept.detail["wins"], kept.detail["losses"], kept.detail["left_out"], kept.verdict) == (7, 0, 7, AGREES)
    assert kept.ours.endswith("; 7 paired settings with a collapsed run left out")
    with pytest.raises(ValueError, match="needs the suite's \\[health\\]"):
        verdicts([healthy], recs)
    with pytest.raises(ValueError, match="paired-sign claims only"):
        Claim(id="d", claim="c", paper="p", metric="fid", test="difference", a={"row": "a"}, b={"row": "b"},
              healthy=True)


def test_difference_uses_a_bootstrap_interval_in_the_papers_direction():
    recs = [rec({"row": "4"}, s, fid=20 + 0.1 * s) for s in range(3)]
    recs += [rec({"row": "1"}, s, fid=30 + 0.1 * s) for s in range(3)]
    claim = Claim(id="d", claim="bigger batch lowers FID", paper="18.65 -> 12.39", metric="fid",
                  test="difference", a={"row": "4"}, b={"row": "1"})
    (v,) = verdicts([claim], recs)
    assert v.verdict == AGREES and v.detail["hi"] < 0
    flipped = claim.model_copy(update={"a": {"row": "1"}, "b": {"row": "4"}})
    assert verdicts([flipped], recs)[0].verdict == DISAGREES
    noisy = [rec({"row": "4"}, s, fid=f) for s, f in enumerate([10, 40, 25])]
    noisy += [rec({"row": "1"}, s, fid=f) for s, f in enumerate([12, 38, 26])]
    assert verdicts([claim], noisy)[0].verdict == INCONCLUSIVE


def test_difference_compares_within_strata_and_refuses_an_unbalanced_grid():
    # selfmod-where, partial: all-layers ran on SNDCGAN only, BN on both architectures. ResNet's FID
    # is far lower than SNDCGAN's, so pooling would credit "bn" with ResNet's advantage.
    claim = Claim(id="w", claim="every layer beats BN", paper="Fig. 2", metric="fid", value="final",
                  test="difference", a={"method": "all-layers"}, b={"method": "bn"})
    sndcgan = [rec({"arch": "sndcgan", "method": m}, s, fid=f + 0.1 * s)
               for m, f in (("all-layers", 40.0), ("bn", 45.0)) for s in range(3)]
    resnet_bn = [rec({"arch": "resnet", "method": "bn"}, s, fid=10.0 + 0.1 * s) for s in range(3)]
    (v,) = verdicts([claim], sndcgan + resnet_bn)
    assert v.verdict == INCONCLUSIVE
    assert v.ours == "unbalanced: 0 all-layers vs 3 bn runs in arch resnet"
    # Pooled, the same runs would have read as a significant 'disagrees' (40 vs 27.5).
    _, lo, _ = bootstrap_diff([40.0, 40.1, 40.2], [45.0, 45.1, 45.2, 10.0, 10.1, 10.2])
    assert lo > 0
    # Within the SNDCGAN stratum alone, all-layers is 5 lower on every seed: agrees.
    (v,) = verdicts([claim], sndcgan)
    assert v.verdict == AGREES and v.detail["diff"] == pytest.approx(-5.0)
    # Complete grid: the mean of the per-architecture differences (-5 and -1), not of pooled means.
    resnet_all = [rec({"arch": "resnet", "method": "all-layers"}, s, fid=9.0 + 0.1 * s) for s in range(3)]
    (v,) = verdicts([claim], sndcgan + resnet_bn + resnet_all)
    assert v.verdict == AGREES and v.detail["strata"] == 2
    assert v.detail["diff"] == pytest.approx(-3.0) and v.detail["lo"] <= -3.0 <= v.detail["hi"]
    assert "the mean of the differences in arch resnet (-1); arch sndcgan (-5)" in v.ours


def test_a_tag_is_a_label_of_its_axis_not_a_stratum():
    # selfmod-conditional: variants carry method/conditioning tags; comparing two variants must not
    # ask their tags to match (they never do), and a claim on a tag must not stratify by its axis.
    class V:
        def __init__(self, label, **tags):
            self.label, self.group, self.tags = label, None, tags

    class A:
        name = "variant"
        values = [V("g-base", method="baseline", conditioning="g"), V("g-sm", method="selfmod", conditioning="g"),
                  V("u-base", method="baseline", conditioning="u"), V("u-sm", method="selfmod", conditioning="u")]

    sources = setting_sources([A])
    assert sources == {"variant": "variant", "variant.group": "variant", "method": "variant",
                       "conditioning": "variant"}
    offsets = {"g-base": 20.0, "g-sm": 18.0, "u-base": 30.0, "u-sm": 28.0}
    recs = [rec({"variant": v.label, **v.tags}, s, fid=offsets[v.label] + 0.1 * s) for v in A.values for s in range(3)]
    by_variant = Claim(id="g", claim="self-mod lowers FID of the G-conditional GAN", paper="T4", metric="fid",
                       test="difference", a={"variant": "g-sm"}, b={"variant": "g-base"})
    (v,) = verdicts([by_variant], recs, sources=sources)
    assert v.verdict == AGREES and v.detail["strata"] == 1
    (v,) = verdicts([by_variant], recs)  # without sources, the tags would split every run into its own stratum
    assert v.verdict == INCONCLUSIVE and v.ours.startswith("unbalanced")
    # A claim on a tag compares within the axis's other tags: self-mod against baseline per conditioning.
    by_tag = Claim(id="m", claim="self-mod lowers FID", paper="T4", metric="fid", test="paired-sign",
                   axis="method", baseline="baseline", treatment="selfmod")
    (v,) = verdicts([by_tag], recs, sources=sources)
    assert (v.detail["wins"], v.detail["losses"]) == (2, 0)
    on_tag = Claim(id="p", claim="self-mod lowers FID", paper="T4", metric="fid", test="difference",
                   a={"method": "selfmod"}, b={"method": "baseline"})
    (v,) = verdicts([on_tag], recs, sources=sources)
    assert v.detail["strata"] == 2 and v.detail["diff"] == pytest.approx(-2.0)
    assert "conditioning g (-2); conditioning u (-2)" in v.ours


def test_bootstrap_interval_contains_the_difference_and_is_seeded():
    d, lo, hi = bootstrap_diff([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], n=2000, seed=1)
    assert d == pytest.approx(-1.0) and lo <= d <= hi
    assert bootstrap_diff([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], n=2000, seed=1) == (d, lo, hi)


def test_trend_over_an_ordered_axis():
    order = ["a", "b", "c", "d"]
    recs = [rec({"row": r}, s, extra={"swd2k/swd_avg": {"final": 100 - 20 * i + s, "best": None,
                                                         "best_step": None, "protocol_hash": "s"}})
            for i, r in enumerate(order) for s in range(3)]
    claim = Claim(id="t", claim="SWD falls", paper="Table 1", metric="swd_avg", test="trend", axis="row",
                  order=order)
    (v,) = verdicts([claim], recs)
    assert v.verdict == AGREES and v.detail["rho"] < 0
    assert verdicts([claim.model_copy(update={"order": order[::-1]})], recs)[0].verdict == DISAGREES


def test_trend_over_truncation_thresholds():
    def sweep(seed):
        vals = {}
        for psi, is_ in (("none", 3.0), ("1", 3.5), ("0.5", 4.0), ("0.1", 4.5)):
            vals[f"is2k@mnist-cnn~t={psi}/is"] = {"final": is_ + 0.01 * seed, "best": None, "best_step": None,
                                                  "protocol_hash": "x"}
        return rec({"ortho": "on"}, seed, extra=vals)
    claim = Claim(id="tr", claim="truncation raises IS", paper="Fig. 2", metric="is", better="higher",
                  test="trend", over="truncation")
    # The run is the unit: 3 sweeps of 4 points each are 3 runs, too few for the sign test.
    (v,) = verdicts([claim], [sweep(s) for s in range(3)])
    assert v.verdict == INCONCLUSIVE and v.n == 3 and v.detail["p"] == pytest.approx(0.25)
    (v,) = verdicts([claim], [sweep(s) for s in range(6)])
    assert v.verdict == AGREES and v.detail["rho"] == pytest.approx(1.0) and v.detail["p"] == pytest.approx(2 / 64)
    assert "in the paper's direction in 6 of 6 runs" in v.ours


def test_claims_reject_missing_fields():
    with pytest.raises(ValueError, match="needs axis"):
        Claim(id="x", claim="c", paper="p", metric="fid", test="paired-sign", baseline="a", treatment="b")


def test_health_counts_collapse_first_eval_and_divergence():
    h = Health(collapsed_metric="is", collapsed_below=2.0, first_eval_metric="fid")
    good = rec({"r": "1"}, 0, fid=20, is_=8, series=[(50, "fid2k@mnist-cnn/fid", 90.0),
                                                     (100, "fid2k@mnist-cnn/fid", 20.0)])
    bad = rec({"r": "1"}, 1, fid=90, is_=1.1, series=[(50, "fid2k@mnist-cnn/fid", 60.0),
                                                      (100, "fid2k@mnist-cnn/fid", 90.0)])
    dead = rec({"r": "1"}, 2, fid=80, status="diverged")
    c = health_counts([good, bad, dead], h)
    assert (c.runs, c.collapsed, c.best_at_first_eval, c.diverged) == (3, 1, 1, 1)


def test_reference_criteria_on_every_seed():
    series = [(s, "fid2k@mnist-cnn/fid", v) for s, v in ((250, 40.0), (500, 20.0), (750, 19.5), (1000, 19.4))]
    still_falling = [(s, "fid2k@mnist-cnn/fid", v) for s, v in ((250, 40.0), (500, 30.0), (750, 25.0), (1000, 15.0))]
    h = Health(reference={"arch": "resnet"}, criteria=[Criterion(metric="is", at_least=7.0),
                                                       Criterion(metric="fid", converged=True)])
    recs = [rec({"arch": "resnet"}, 0, fid=19.4, is_=8.1, series=series),
            rec({"arch": "resnet"}, 1, fid=15.0, is_=7.5, series=still_falling),
            rec({"arch": "sndcgan"}, 0, fid=50, is_=2.0)]
    checks = reference_health(recs, h)
    assert [c.seed for c in checks] == [0, 1]
    assert checks[0].passed and not checks[1].passed
    assert [ok for _, ok, _ in checks[1].checks] == [True, True, False]  # finished, IS, converged


def test_a_criterion_not_required_is_shown_but_does_not_decide_learned():
    still_falling = [(s, "fid2k@mnist-cnn/fid", v) for s, v in ((250, 40.0), (500, 30.0), (750, 25.0), (1000, 15.0))]
    strict = Health(reference={"arch": "resnet"}, criteria=[Criterion(metric="is", at_least=7.0),
                                                            Criterion(metric="fid", converged=True)])
    lenient = Health(reference={"arch": "resnet"}, criteria=[Criterion(metric="is", at_least=7.0),
                                                             Criterion(metric="fid", converged=True, required=False)])
    recs = [rec({"arch": "resnet"}, 0, fid=15.0, is_=7.5, series=still_falling)]
    assert not reference_health(recs, strict)[0].passed
    check = reference_health(recs, lenient)[0]
    assert check.passed
    name, ok, what = check.checks[2]
    assert ok is False and "not required" in name and what == "best 25 before, 15 in the last quarter"
    # The required one still decides: a low IS fails whatever the optional criterion says.
    low = [rec({"arch": "resnet"}, 0, fid=15.0, is_=3.0, series=still_falling)]
    assert not reference_health(low, lenient)[0].passed
