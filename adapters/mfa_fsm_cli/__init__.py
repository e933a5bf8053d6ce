"""The `mfa-fsm` command: the I/O edge for the checker and the diagrams (timing, files, dot)."""
