"""Local Wyoming servers for Jarvis: speech-to-text (faster-whisper) and text-to-speech (Piper)."""
