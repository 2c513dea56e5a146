"""Tests of the catalog: plans and charges, loaded from a file and served by the API."""
