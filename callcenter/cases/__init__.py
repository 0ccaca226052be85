"""Case status: the registry, its import, caller verification with lockout, speakable status text, audit."""
