"""The bundled generator: text-to-video with diffusers, visible watermark, C2PA signing, mp4 muxing.

Imports nothing else of Greenroom's.
"""
