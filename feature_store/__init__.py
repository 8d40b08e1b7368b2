"""Client features (RFM, segments) computed offline and served online."""
