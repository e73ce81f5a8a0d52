"""Fits side by side: in threads, never nested, and with the same numbers as one by one."""

from __future__ import annotations

import platform
import subprocess
import sys
import threading
import time
from functools import partial

import numpy as np
import polars as pl
import pytest

from overdue.models.diagnostics import driver_importance
from overdue.models.effects import APPROACH_TREATMENT, aipw
from overdue.models.parallel import alongside, fit_threads, side_by_side
from overdue.models.train import OutcomeModel, fit_outcome_model


def _where() -> str:
    return threading.current_thread().name


def _where_with_parts() -> tuple[str, list[str]]:
    return _where(), side_by_side([_where, _where])


def test_tasks_run_in_worker_threads_only_inside_the_block() -> None:
    main = _where()
    assert side_by_side([_where] * 4) == [main] * 4
    with fit_threads(2):
        workers = side_by_side([_where] * 4)
        nested = side_by_side([_where_with_parts] * 4)
    assert all(name != main and name.startswith("fit") for name in workers)
    # a task in a worker runs its own parts in that worker: the threads never multiply
    assert all(parts == [outer, outer] for outer, parts in nested)
    assert side_by_side([_where] * 4) == [main] * 4


def test_two_chains_run_at_once_each_with_its_fits_side_by_side() -> None:
    main = _where()
    both_waiting = threading.Barrier(2, timeout=30)  # each chain waits for the other

    def chain() -> tuple[str, list[str]]:
        both_waiting.wait()
        return _where_with_parts()

    with fit_threads(2):
        (first, first_parts), (second, second_parts) = alongside(chain, chain)
    assert first != main and first.startswith("chain")
    assert second == main
    # the chain in its own thread keeps this thread's fit_threads: its fits run side by side
    assert all(name.startswith("fit") for name in first_parts + second_parts)


def test_a_failing_chain_fails_the_whole() -> None:
    def broken() -> None:
        raise ValueError("the first chain failed")

    def also_broken() -> None:
        raise RuntimeError("the second chain failed")

    with fit_threads(2):
        with pytest.raises(ValueError, match="the first chain failed"):
            alongside(broken, _where)
        with pytest.raises(RuntimeError, match="the second chain failed"):
            alongside(_where, also_broken)
        # both failed: the first's error, as when the first ran before the second
        with pytest.raises(ValueError, match="the first chain failed"):
            alongside(broken, also_broken)


STEPS = 1000


def _steps(done: list[int]) -> None:
    """A long chain: ``STEPS`` fits of 10 ms, each through ``side_by_side``, the fits in
    worker threads inside ``fit_threads``."""
    for step in range(STEPS):
        side_by_side([partial(time.sleep, 0.01), partial(done.append, step)])


def test_when_one_chain_fails_the_other_stops_at_its_next_fit() -> None:
    def broken() -> None:
        raise ValueError("the first chain failed")

    def also_broken() -> None:
        raise RuntimeError("the second chain failed")

    for threads in (1, 2):
        with fit_threads(threads):
            second_done: list[int] = []
            with pytest.raises(ValueError, match="the first chain failed"):
                alongside(broken, partial(_steps, second_done))
            first_done: list[int] = []
            with pytest.raises(RuntimeError, match="the second chain failed"):
                alongside(partial(_steps, first_done), also_broken)
        # each long chain stopped long before its end, not after its 10 s of fits
        assert len(second_done) < STEPS / 2
        assert len(first_done) < STEPS / 2
    # afterwards nothing is left marked: fits run as before
    assert side_by_side([_where]) == [_where()]


def test_side_by_side_gives_the_numbers_of_one_by_one(
    features: pl.DataFrame, model: OutcomeModel
) -> None:
    data = features.filter(pl.col("y_agreement").is_not_null())
    alone = aipw(data, APPROACH_TREATMENT, "y_agreement", seed=1, folds=3)
    with fit_threads(2):
        together = aipw(data, APPROACH_TREATMENT, "y_agreement", seed=1, folds=3)
        refitted = fit_outcome_model(features, seed=3)
    np.testing.assert_array_equal(alone.phi, together.phi)
    np.testing.assert_array_equal(alone.propensity, together.propensity)
    np.testing.assert_allclose(refitted.predict(features), model.predict(features), atol=1e-12)
    assert refitted.choice == model.choice
    drivers = driver_importance(model, data, "y_agreement", seed=4)
    with fit_threads(2):
        assert driver_importance(model, data, "y_agreement", seed=4) == drivers
    assert len({d["driver"] for d in drivers}) == len(drivers) > 5


FREED_IN_THREADS = """
import sys, threading
import numpy as np
from overdue.models.parallel import return_freed_memory

def rss_mb():
    with open("/proc/self/status") as status:
        return int(next(l for l in status if l.startswith("VmRSS")).split()[1]) // 1024

applied = sys.argv[1] == "on" and return_freed_memory()
kept = []

def chain():
    for _ in range(3):
        del_me = np.ones(3 << 20)  # a freed 24 MB array: glibc raises its mmap threshold
        del del_me
        columns = [np.ones(1 << 20) * 2 for _ in range(40)]  # 8 MB column-sized arrays
        kept.extend(np.ones(1000) for _ in range(40))  # small objects allocated among them
        del columns

start = rss_mb()
threads = [threading.Thread(target=chain) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(applied, rss_mb() - start)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's malloc only",
)
def test_freed_arrays_go_back_to_the_system() -> None:
    """Two threads that allocate and free column-sized arrays among small live objects (what
    two chains of fits do): by default glibc keeps the freed memory; after
    ``return_freed_memory`` the process gives it back."""
    held = {}
    for mode in ("off", "on"):
        run = subprocess.run(
            [sys.executable, "-c", FREED_IN_THREADS, mode],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        applied, megabytes = run.stdout.split()
        assert applied == str(mode == "on")
        held[mode] = int(megabytes)
    assert held["off"] >= 200  # the default really keeps it: the check below can fail
    assert held["on"] <= 40
