"""Disclosure control: suppression, withholding, differencing audit and allow-list scan of published files."""
