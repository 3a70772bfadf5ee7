"""cnncalc: a CNN architecture calculator and CPU trainer for one YAML spec."""

__version__ = "0.1.0"
