package store

// SetAllEndpointsBatch makes AllEndpoints read n partners at a time, so that
// tests cross batch boundaries with few rows.
func SetAllEndpointsBatch(s *Store, n int) { s.allEndpointsBatch = n }
