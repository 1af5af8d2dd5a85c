"""Jarvis satellite: 48 kHz capture, DSP, wake word, VAD and the Wyoming satellite protocol."""
