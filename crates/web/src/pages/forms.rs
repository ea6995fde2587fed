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

/// The box to tick before an action that cannot be undone (delete, leave,
/// remove), labelled `label`, with `errors` (the unticked box's) above it.
pub fn confirm_box(errors: &[(String, String)], label: &str) -> maud::Markup {
    maud::html! {
        div.field.has-error[!errors.is_empty()] {
            @for (_, e) in errors { p.error id="confirm-error" { (e) } }
            div.radio {
                input type="checkbox" id="confirm" name="confirm" value="yes";
                label for="confirm" { (label) }
            }
        }
    }
}

/// `None` when the box of [`confirm_box`] was ticked; else the error to
/// show beside it, `why`.
pub fn unconfirmed(f: &HashMap<String, String>, why: String) -> Option<[(String, String); 1]> {
    (field(f, "confirm") != Some("yes")).then(|| [("confirm".to_owned(), why)])
}
