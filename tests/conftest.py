import sys
from pathlib import Path

# Test helper modules (random_models) are imported by file path, not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent))
