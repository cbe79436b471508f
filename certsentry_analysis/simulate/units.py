"""Time units of the simulation clock (float seconds from 00:00 UTC of the start day)."""

DAY = 86400.0
HOUR = 3600.0
