//! Reading form fields.

use std::collections::HashMap;

/// A trimmed field, `None` when missing or blank.
pub fn field<'a>(f: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    f.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// The form as sent, each line break made `\n`: a browser sends a text
/// area's breaks as `\r\n`, which would otherwise be stored as typed.
pub fn lines(mut f: HashMap<String, String>) -> HashMap<String, String> {
    for v in f.values_mut() {
        if v.contains('\r') {
            *v = v.replace("\r\n", "\n").replace('\r', "\n");
        }
    }
    f
}
