"""Jobs, sizes, statuses, errors, ledger items, prices, templates and ports: no I/O at all."""
