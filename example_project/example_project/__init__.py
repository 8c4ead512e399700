"""The product-reviews example site of multidb_routers."""
