"""Real-browser tests: headless Chromium against the live server (see conftest.py)."""
