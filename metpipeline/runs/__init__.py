"""Run control: the jobs, the chain back-fill ─► release that puts a month in motion, the monthly schedule,
the run launcher, and the summary printed after a release."""
