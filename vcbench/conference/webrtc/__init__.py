"""The real-WebRTC engine: libwebrtc in headless Chromium over a packet-level relay (``engine.py``,
``relay.py``, ``call.html``)."""
