"""`python -m cpf_tui` behaves like the `cpf-tui` command."""

from cpf_tui.cli import main

raise SystemExit(main())
