-- placeholder, replaced by the real schema
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
