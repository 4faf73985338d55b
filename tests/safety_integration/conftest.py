"""Shared helpers: re-encoded copies of fixture media (what a re-upload looks like)."""

from bench.reupload import reencode_image, reencode_video

__all__ = ["reencode_image", "reencode_video"]
