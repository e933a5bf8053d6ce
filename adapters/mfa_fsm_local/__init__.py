"""The self-hosted provider: factors, primary auth, sessions, lockout, stores, audit."""
