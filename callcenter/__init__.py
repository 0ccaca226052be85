"""callcenter: the hotline service behind a city social-services department's single phone number."""

__version__ = "0.1.0"
