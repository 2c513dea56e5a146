"""Cost centers: how a tenant splits its usage across its teams."""
