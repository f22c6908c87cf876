"""`python -m sgguard`: the same entry point as the `sgguard` console script."""

from sgguard.cli import main

raise SystemExit(main())
