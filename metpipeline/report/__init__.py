"""The release report a data owner reads before approving a month's release."""
