import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Tests run against the in-place build (make build) when the package is not installed.
sys.path.insert(0, os.path.join(ROOT, "python"))


@pytest.fixture
def no_tf32():
    """fp32 convs and matmuls in full fp32 for one test, torch's flags restored after it."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
