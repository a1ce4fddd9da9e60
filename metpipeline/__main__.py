"""`python -m metpipeline …`: the `metpipeline` command (commands/main.py)."""

import sys

from metpipeline.commands.main import main

sys.exit(main())
