"""Write the pickles of fickling's safety and analysis tests to files.

Usage: python3 gen_fickling.py FICKLING_CHECKOUT OUTDIR

It imports fickling's own test modules (test/test_bypasses.py,
test_analysis.py, test_expansion_attack_analysis.py,
test_scanner_deactivation_analysis.py) from the checkout and runs them with
fickling's analysis replaced by a recorder: every pickle a test hands to
check_safety (or to AnalysisContext) is written out — as fickling
serialises it (Pickled.dumps), or byte for byte when the test built the
bytes itself and parsed them with Pickled.load (the frame-boundary cases).
Nothing is ever unpickled: only fickling's opcode writer runs. The tests'
assertions fail (the recorder is not an analyser) and are ignored.
"""

import os
import sys
import unittest

checkout, outdir = sys.argv[1], sys.argv[2]
sys.path.insert(0, checkout)

import typing_extensions  # noqa: E402

if not hasattr(typing_extensions, "Buffer"):  # Debian's typing_extensions is older than fickling needs
    typing_extensions.Buffer = bytes

import fickling.analysis  # noqa: E402
from fickling.fickle import Pickled  # noqa: E402

MAX_BYTES = 200_000  # larger pickles (CPython's own output of big lists) are left out

counters = {}
skipped = []
current = {"test": "unknown"}

_load = Pickled.load


def load_keeping_bytes(data, *args, **kwargs):
    p = _load(data, *args, **kwargs)
    try:
        p._ditkit_raw = bytes(data)
    except Exception:
        pass
    return p


Pickled.load = staticmethod(load_keeping_bytes)


def record(pickled):
    raw = getattr(pickled, "_ditkit_raw", None)
    if raw is None:
        raw = pickled.dumps()
    name = current["test"]
    n = counters.get(name, 0)
    counters[name] = n + 1
    fn = f"{name}.{n}.pkl"
    if len(raw) > MAX_BYTES:
        skipped.append((fn, len(raw)))
        return
    with open(os.path.join(outdir, fn), "wb") as f:
        f.write(raw)


class Recorded:
    def __getattr__(self, name):
        raise AssertionError("recorder")


def check_safety(pickled, *args, **kwargs):
    record(pickled)
    return Recorded()


class AnalysisContext:
    def __init__(self, pickled, *args, **kwargs):
        record(pickled)

    def analyze(self, *args, **kwargs):
        raise AssertionError("recorder")


class Result(unittest.TestResult):
    def startTest(self, test):
        super().startTest(test)
        current["test"] = f"{type(test).__name__}.{test._testMethodName}"


os.makedirs(outdir, exist_ok=True)
sys.path.insert(0, os.path.join(checkout, "test"))
suite = unittest.TestSuite()
for modname in ("test_bypasses", "test_analysis", "test_expansion_attack_analysis", "test_scanner_deactivation_analysis"):
    mod = __import__(modname)
    if hasattr(mod, "check_safety"):
        mod.check_safety = check_safety
    if hasattr(mod, "AnalysisContext"):
        mod.AnalysisContext = AnalysisContext
    suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(mod))
suite.run(Result())
for fn, size in skipped:
    print(f"left out {fn}: {size} bytes", file=sys.stderr)
print(f"wrote {sum(counters.values()) - len(skipped)} pickles", file=sys.stderr)
