"""Price catalog lookup (genai-prices), user overrides and cost arithmetic."""
