//! HTTP helpers shared by every filter.
