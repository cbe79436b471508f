"""certsentry-analysis: the offline side of the CertSentry revocation-checking study."""

__version__ = "0.1.0"
