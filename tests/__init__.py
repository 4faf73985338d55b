"""Greenroom tests."""
