"""violations_sync: BEDROCK_CONTENT stream records -> MERGE into Iceberg `silver.violations`."""
