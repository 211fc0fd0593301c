//! TODO(skeleton): cluster
