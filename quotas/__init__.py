"""Hard and soft quotas per tenant and metric."""
