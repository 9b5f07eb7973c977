"""Config helpers shared by the Snakefile and the scripts."""

import hashlib
import json


def config_hash(*sections):
    """Short, stable hash of config sections (JSON with sorted keys)."""
    text = json.dumps(sections, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
