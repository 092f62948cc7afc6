"""Small pieces every part of the lab shares (files that are complete or absent)."""
