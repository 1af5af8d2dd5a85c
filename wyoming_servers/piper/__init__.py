"""Piper text-to-speech behind the Wyoming protocol, with early, seamless streaming."""
