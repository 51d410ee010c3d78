"""import dlcore makes OpenMP's idle workers sleep (OMP_WAIT_POLICY=passive) unless the user
chose a policy: spinning workers slowed 2-thread steps 2-3x beside another busy process
(benchmarks/bench_load.py). Checked in fresh processes, since OpenMP reads it once."""
import os
import subprocess
import sys

import pytest

PROBE = "import os, dlcore; print(os.environ.get('OMP_WAIT_POLICY'))"


@pytest.mark.parametrize("given, expected", [(None, "passive"), ("active", "active"),
                                             ("PASSIVE", "PASSIVE")])
def test_wait_policy_default_and_user_choice(given, expected):
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    r = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected
