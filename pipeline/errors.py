"""The input errors the gate raises, re-exported for the server (which must not import detectors)."""

from detectors.base import DetectorError, MediaError, ModelUnavailable

__all__ = ["DetectorError", "MediaError", "ModelUnavailable"]
