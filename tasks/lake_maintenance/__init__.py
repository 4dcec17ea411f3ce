"""lake_maintenance: compaction, snapshot expiry and orphan removal for one lake table."""
