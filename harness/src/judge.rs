//! TODO(skeleton): judge
