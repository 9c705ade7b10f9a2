"""Result.pareto: the same front as the pairwise definition, and fast on 20,000 trials."""
import random
import time

import optuna
from optuna.distributions import IntDistribution
from optuna.study._multi_objective import _dominates
from optuna.trial import create_trial

from chiplab.explore.search import Result


def _result(n: int, seed: int, directions=("minimize", "minimize")) -> Result:
    rng = random.Random(seed)
    study = optuna.create_study(directions=list(directions))
    dist = {"x": IntDistribution(0, n)}
    trials = []
    for i in range(n):
        x = rng.randrange(n // 2)              # repeated designs, as NSGA-II revisits
        r = random.Random(x)
        u = r.random()                        # near a trade-off curve, as a converged NSGA-II run
        vals = [u + 0.01 * r.random(), 1 - u + 0.01 * r.random()] + [r.random() for _ in directions[2:]]
        vals = [v if d == "minimize" else -v for v, d in zip(vals, directions)]
        trials.append(create_trial(params={"x": x}, distributions=dist, values=vals,
                                   user_attrs={"constraints": [r.random() - 0.8]}))
    study.add_trials(trials)
    return Result(study, None)


def _brute(res: Result) -> set:
    feas = res.feasible()
    dirs = res.study.directions
    return {tuple(sorted(t.params.items())) for t in feas
            if not any(_dominates(o, t, dirs) for o in feas if o is not t)}


def test_pareto_matches_the_pairwise_definition():
    for seed, dirs in ((0, ("minimize", "minimize")), (1, ("maximize", "minimize")),
                       (2, ("minimize", "minimize", "maximize"))):
        res = _result(400, seed, dirs)
        front = res.pareto()
        assert {tuple(sorted(t.params.items())) for t in front} == _brute(res)
        assert len({t.params["x"] for t in front}) == len(front)       # each design once


def test_pareto_of_20000_trials_is_fast():
    res = _result(20000, 3)
    t = time.perf_counter()
    front = res.pareto()
    assert front and time.perf_counter() - t < 20      # pairwise: 4e8 comparisons, minutes
