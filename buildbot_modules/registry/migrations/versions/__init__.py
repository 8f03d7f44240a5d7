"""Migration scripts, one per revision (a package so that they ship with the wheel)."""
