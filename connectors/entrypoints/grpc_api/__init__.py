"""Generated from specs/proto by `make protos`."""
