"""Route modules, one per area; each exposes a SecureRouter named ``router``."""
