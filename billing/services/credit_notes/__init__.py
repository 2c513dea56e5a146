"""Credit notes (contract section 12): create one on an open or paid invoice, refund its refund part
through Stripe. One module per operation; import from the module.
"""
