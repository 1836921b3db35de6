"""Bridges between the rate-based (torch) and spiking (Brian2) sides: data, weight maps, attacks, comparisons."""
