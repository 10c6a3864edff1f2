"""Speech to text for voicemails: engines behind one small interface (engine.py), the offline
models they load (models.py: installed from PyPI, checksummed), and `callcenter speech`.
Nothing outside this package imports faster-whisper or vosk."""
