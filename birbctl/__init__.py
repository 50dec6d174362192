"""birbctl: a command-line inspector for the Discord Gateway."""

__version__ = "0.1.0"
