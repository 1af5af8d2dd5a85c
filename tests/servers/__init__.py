"""Tests for servers."""
