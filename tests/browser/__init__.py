"""Real-browser tests of the back office (headless Chromium + Selenium)."""
