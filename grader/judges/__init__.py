"""Judging functions shared by the tiers: the same rules, the same feedback, whatever the evidence."""
