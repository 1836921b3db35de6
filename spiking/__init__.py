"""Spiking side (Brian2)."""
