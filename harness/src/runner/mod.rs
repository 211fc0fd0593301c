//! TODO(skeleton): runner
