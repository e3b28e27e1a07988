//! Cross-crate and interoperability test support.
