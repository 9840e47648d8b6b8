//! POSIX shell quoting for the `--curl` output.

/// `text` as one shell word: single-quoted, with embedded quotes closed, escaped and reopened.
pub(crate) fn quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(&b))
    {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn leaves_plain_words_alone() {
        assert_eq!(quote("http://h:8080/a"), "http://h:8080/a");
    }

    #[test]
    fn quotes_spaces_and_quotes() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
    }
}
