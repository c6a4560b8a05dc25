"""Blueprint: addin."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("addin", __name__)
