"""Run the Python suites with unittest and print one machine-readable count line for run.js."""

import faulthandler
import json
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
# A client that hangs must not hang CI: dump every thread's stack and exit.
faulthandler.dump_traceback_later(540, exit=True)
loader = unittest.TestLoader()
if len(sys.argv) > 1:
    loader.testNamePatterns = [f"*{p}*" for p in sys.argv[1:]]
suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
counts = {"passed": result.testsRun - failed - skipped - len(result.expectedFailures),
          "failed": failed, "skipped": skipped}
print("edgelite-python-counts " + json.dumps(counts), flush=True)
sys.exit(1 if failed else 0)
