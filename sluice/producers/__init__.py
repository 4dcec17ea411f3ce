"""Test-data producers: write what an upstream system would, so a flow runs end to end locally."""
