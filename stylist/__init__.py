"""Stylist: a personal outfit stylist for your own wardrobe (FashionNet, on your own machine)."""

__version__ = "0.1.0"
APP_NAME = "Stylist"
