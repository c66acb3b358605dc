"""Human-facing reports on converted datasets: inspect tables and preview galleries."""
