"""The Jarvis demo: a real Home Assistant, our servers and a satellite fed by a recording."""
