//! Signature verification. TO BE WRITTEN (see helper brief).
