"""Tests for satellite."""
