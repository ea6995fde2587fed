//! Reading form fields.

use std::collections::HashMap;

/// A trimmed field, `None` when missing or blank.
pub fn field<'a>(f: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    f.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}
