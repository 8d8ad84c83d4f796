"""callbridge: sales-call recordings in, the customer's voice out."""

__version__ = "0.1.0"
