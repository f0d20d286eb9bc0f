"""Schedules, sensors and asset checks: what runs when, and what must hold after."""
