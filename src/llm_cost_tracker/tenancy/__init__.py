"""Tenants and access: the tenants file, token checks, per-tenant limits and views (DESIGN §11)."""
