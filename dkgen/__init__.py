"""dkgen: doped Kronecker product networks compiled to static C99 for microcontrollers."""

__version__ = "0.1.0"
