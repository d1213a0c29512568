"""Auth service: users, roles, signing keys and access tokens."""
