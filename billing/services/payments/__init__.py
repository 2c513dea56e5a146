"""Collecting the money (contract section 11): billing settings and the default payment method,
charging an invoice (automatically at finalize, on the dunning schedule, or on demand), recording
payments made outside Stripe. One module per concern; import from the module, not from here.
"""
