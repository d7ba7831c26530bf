//! `${ENV_VAR}` substitution for secrets and other per-machine values.

/// Replaces every `${NAME}` in `text` with the environment variable `NAME`;
/// `${NAME:-default}` falls back to `default` when it is unset. `$${`
/// stands for a literal `${`. Returns the name of the first variable
/// that is unset (or not UTF-8), or a description of a malformed reference.
pub fn expand_env(text: &str) -> Result<String, String> {
    expand_with(text, |name| std::env::var(name).ok())
}

pub(crate) fn expand_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    if !text.contains("${") {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest[..pos].ends_with('$') {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            return Err("`${` without a closing `}`".to_string());
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`${{{name}}}` is not a variable reference: names are letters, digits and `_`"
            ));
        }
        match (lookup(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "PW").then(|| "s3cret".to_string())
    }

    #[test]
    fn substitutes() {
        assert_eq!(expand_with("a${PW}b", env).as_deref(), Ok("as3cretb"));
        assert_eq!(expand_with("plain", env).as_deref(), Ok("plain"));
        assert_eq!(expand_with("$${PW}", env).as_deref(), Ok("${PW}"));
        assert!(expand_with("${NOPE}", env).unwrap_err().contains("NOPE"));
        assert_eq!(
            expand_with("${NOPE:-x}/${PW:-y}", env).as_deref(),
            Ok("x/s3cret")
        );
        assert_eq!(expand_with("${NOPE:-}", env).as_deref(), Ok(""));
        assert!(expand_with("${PW", env).is_err());
        assert!(expand_with("${a-b}", env).is_err());
    }
}
