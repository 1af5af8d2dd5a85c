"""Tests for Jarvis."""
