import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Tests run against the in-place build (make build) when the package is not installed.
sys.path.insert(0, os.path.join(ROOT, "python"))

