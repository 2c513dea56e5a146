"""Coupons and their redemptions."""
