//! JWKS parsing (RFC 7517/7518/8037). TO BE WRITTEN (see helper brief).
