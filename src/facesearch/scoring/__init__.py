"""What a score means: the operating threshold, the false-match rate at any score (calibrated or
from the shipped reference measurements), and error rates in ISO/IEC 19795-1 terms."""
