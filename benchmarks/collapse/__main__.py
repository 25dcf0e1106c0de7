"""``python -m benchmarks.collapse --quick|--full [--out DIR] [--seeds 3]`` (see :mod:`.run`)."""

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one BLAS thread per process, set before numpy loads

from .run import main  # noqa: E402

raise SystemExit(main())
