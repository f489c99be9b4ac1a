"""The corpus of submissions that proves the offline checks can fail and grade right (see faults.py)."""
