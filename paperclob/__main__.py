"""`python -m paperclob`: run a paper exchange until Ctrl-C or SIGTERM."""

from paperclob.cli import main

raise SystemExit(main())
