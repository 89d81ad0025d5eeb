"""edgeward end-to-end test harness: Envoy process control, stub servers, keys.

Import the pieces from their modules (harness.envoy, harness.keys, ...).
"""
