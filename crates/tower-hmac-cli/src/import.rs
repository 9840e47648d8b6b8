//! A provider's secret brought in (`keygen --import`, `keys import`): read from standard input or
//! a file, never from an argument (`ps` and the shell history show arguments), and checked
//! against the provider's form before it is used. No error names the value.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use tower_hmac_core::SecretKey;
use zeroize::{Zeroize as _, Zeroizing};

/// The most read from standard input or `--from`: a key of the longest length with room for
/// white space. More is refused instead of read without bound.
const MAX_INPUT: usize = 4096;

/// What an argument that may be a secret is told: the value itself is never repeated.
pub(crate) const ARGUMENT_REFUSED: &str = "an unexpected argument, not repeated here in case it \
    is a secret: a secret is never taken as an argument (`ps` and the shell history show \
    arguments); pipe it on standard input or pass --from PATH. If it was a real secret, it is now \
    in your shell history: rotate it at the provider";

/// Whose secret it is: its form is checked, and the key is kept to the provider's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Provider {
    /// Stripe's webhook signing secret (`whsec_…`).
    Stripe,
    /// Slack's signing secret (32 characters).
    Slack,
    /// A GitHub webhook's secret (the text set on the webhook).
    Github,
}

impl Provider {
    /// The id of the scheme that verifies the provider's signatures.
    pub(crate) fn scheme(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Slack => "slack",
            Self::Github => "github",
        }
    }

    /// The scheme's type, as a user's code names it.
    pub(crate) fn scheme_type(self) -> &'static str {
        match self {
            Self::Stripe => "tower_hmac::protocol::webhooks::Stripe",
            Self::Slack => "tower_hmac::protocol::webhooks::Slack",
            Self::Github => "tower_hmac::protocol::webhooks::GitHub",
        }
    }

    /// What the secret is called at the provider.
    pub(crate) fn secret_name(self) -> &'static str {
        match self {
            Self::Stripe => "Stripe's webhook signing secret",
            Self::Slack => "Slack's signing secret",
            Self::Github => "the GitHub webhook's secret",
        }
    }

    /// Whether `text` (trimmed) has the provider's form; the error says what is expected, never
    /// what was given (only its length).
    pub(crate) fn check(self, text: &str) -> Result<(), String> {
        let len = text.chars().count();
        if text.chars().any(char::is_control) {
            return Err(format!(
                "{}: one line of text expected; this has a control character or several lines",
                self.secret_name()
            ));
        }
        match self {
            Self::Stripe => {
                if ["sk_", "rk_", "pk_"].iter().any(|p| text.starts_with(p)) {
                    return Err("this is a Stripe API key (sk_, rk_ or pk_), not a webhook signing \
                        secret: take the endpoint's \"Signing secret\" (whsec_…) from the Dashboard's \
                        Webhooks page or from `stripe listen`"
                        .into());
                }
                let Some(rest) = text.strip_prefix("whsec_") else {
                    return Err(
                        "a Stripe webhook signing secret starts with whsec_ (the endpoint's \
                        \"Signing secret\" in the Dashboard, or `stripe listen`'s output); this \
                        value does not"
                            .into(),
                    );
                };
                if !(24..=128).contains(&rest.len())
                    || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(format!(
                        "a Stripe webhook signing secret is whsec_ and 24 to 128 letters and \
                         digits; this value has {} characters after whsec_{}",
                        rest.chars().count(),
                        if rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
                            ""
                        } else {
                            ", not all of them letters or digits"
                        }
                    ));
                }
                Ok(())
            }
            Self::Slack => {
                if ["xoxb-", "xoxp-", "xoxa-", "xapp-", "xoxe"]
                    .iter()
                    .any(|p| text.starts_with(p))
                {
                    return Err(
                        "this is a Slack token, not the signing secret: take \"Signing \
                        Secret\" from the app's Basic Information page (App Credentials)"
                            .into(),
                    );
                }
                if len == 24 && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(
                        "24 characters: this looks like Slack's (deprecated) verification \
                        token; the signing secret (Basic Information, App Credentials) has 32"
                            .into(),
                    );
                }
                if len != 32 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(format!(
                        "a Slack signing secret is 32 letters and digits (Basic Information, App \
                         Credentials, \"Signing Secret\"); this value has {len} characters{}",
                        if text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                            ""
                        } else {
                            ", not all of them letters or digits"
                        }
                    ));
                }
                Ok(())
            }
            Self::Github => {
                if text.starts_with("whsec_") {
                    return Err(
                        "this looks like a Stripe webhook signing secret (whsec_…): \
                        --provider stripe?"
                            .into(),
                    );
                }
                if text.len() < SecretKey::MIN_TEXT_LEN {
                    return Err(format!(
                        "a webhook secret of {} bytes is too short to import: at least {} (GitHub \
                         recommends a long random text, e.g. `openssl rand -hex 32`, set on the \
                         webhook)",
                        text.len(),
                        SecretKey::MIN_TEXT_LEN
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Reads the provider's secret from `from` (a file; `-` or `None`: standard input), checks its
/// form and makes the key of it (`SecretKey::from_text`: the text as issued). Every copy of the
/// text read is wiped.
pub(crate) fn read_secret(provider: Provider, from: Option<&Path>) -> Result<SecretKey, String> {
    let raw = match from {
        Some(path) if path != Path::new("-") => read_file(provider, path)?,
        _ => read_stdin(provider)?,
    };
    let text = match String::from_utf8(raw.to_vec()) {
        Ok(text) => Zeroizing::new(text),
        Err(e) => {
            e.into_bytes().zeroize();
            return Err(format!("{}: not UTF-8 text", provider.secret_name()));
        }
    };
    let trimmed = Zeroizing::new(text.trim_ascii().to_owned());
    if trimmed.is_empty() {
        return Err(format!(
            "no secret read: pipe {} on standard input or pass --from PATH",
            provider.secret_name()
        ));
    }
    provider.check(&trimmed)?;
    SecretKey::from_text(&trimmed).map_err(|e| format!("{}: {e}", provider.secret_name()))
}

fn read_stdin(provider: Provider) -> Result<Zeroizing<Vec<u8>>, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!(
            "Paste {} (it is not echoed back), then Enter and Ctrl-D:",
            provider.secret_name()
        );
    }
    read_bounded(stdin.lock()).map_err(|e| match e {
        Bounded::TooLarge => format!("more than {MAX_INPUT} bytes on standard input"),
        Bounded::Io(e) => format!("cannot read standard input: {e}"),
    })
}

fn read_file(provider: Provider, path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    let file = std::fs::File::open(path).map_err(|e| {
        // A secret given where a path goes: say so without repeating it.
        let given = path.to_string_lossy();
        if given.starts_with("whsec_")
            || (!given.contains(std::path::MAIN_SEPARATOR)
                && provider.check(given.trim_ascii()).is_ok())
        {
            "--from takes the path of a file holding the secret; this value is no readable file \
             and has the form of a secret (not repeated here). A secret is never taken as an \
             argument (`ps` and the shell history show arguments): if it was a real one, it is \
             now in your shell history: rotate it at the provider"
                .to_owned()
        } else {
            // Not repeated either: a secret that does not look like one (a mistyped one, or one
            // with a `/`) would be printed in clear.
            format!(
                "--from: cannot open the file given ({}); the value is not repeated here, in case \
                 it was a secret",
                e.kind()
            )
        }
    })?;
    read_bounded(file).map_err(|e| match e {
        Bounded::TooLarge => format!(
            "--from: {} holds more than {MAX_INPUT} bytes: not a secret",
            path.display()
        ),
        Bounded::Io(e) => format!("--from: cannot read {}: {e}", path.display()),
    })
}

enum Bounded {
    TooLarge,
    Io(std::io::Error),
}

/// Reads at most [`MAX_INPUT`] bytes into a buffer allocated once (never moved, so no copy of the
/// secret is left behind) and wiped on drop.
fn read_bounded(input: impl std::io::Read) -> Result<Zeroizing<Vec<u8>>, Bounded> {
    let mut buffer = Zeroizing::new(Vec::with_capacity(MAX_INPUT + 1));
    input
        .take(MAX_INPUT as u64 + 1)
        .read_to_end(&mut buffer)
        .map_err(Bounded::Io)?;
    if buffer.len() > MAX_INPUT {
        return Err(Bounded::TooLarge);
    }
    Ok(buffer)
}

/// `text` as a TOML basic string, quotes included.
pub(crate) fn toml_string(text: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 2));
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stripe_secret_is_whsec_and_letters_and_digits() {
        assert!(
            Provider::Stripe
                .check("whsec_0123456789abcdefABCDEF0123456789")
                .is_ok()
        );
        for bad in [
            "0123456789abcdefABCDEF0123456789",
            "whsec_short",
            "whsec_0123456789abcdef-0123456789abcdef",
            "sk_live_0123456789abcdef0123456789",
        ] {
            let e = Provider::Stripe.check(bad).unwrap_err();
            assert!(!e.contains(bad), "{e}");
        }
        assert!(
            Provider::Stripe
                .check("sk_live_0123456789abcdef0123456789")
                .unwrap_err()
                .contains("API key")
        );
    }

    #[test]
    fn a_slack_secret_is_32_letters_and_digits() {
        assert!(
            Provider::Slack
                .check("8f742231b10e8888abcd99aaabbb85a5")
                .is_ok()
        );
        assert!(
            Provider::Slack
                .check("0123456789abcdef01234567")
                .unwrap_err()
                .contains("verification token")
        );
        assert!(
            Provider::Slack
                .check("xoxb-0123456789-0123456789")
                .unwrap_err()
                .contains("token")
        );
        assert!(
            Provider::Slack
                .check("8f742231b10e8888abcd99aaabbb85a")
                .is_err()
        );
    }

    #[test]
    fn a_github_secret_is_any_line_of_16_bytes_or_more() {
        assert!(Provider::Github.check("It's a Secret to Everybody").is_ok());
        assert!(Provider::Github.check("short").is_err());
        assert!(Provider::Github.check("two\nlines of a secret").is_err());
        assert!(
            Provider::Github
                .check("whsec_0123456789abcdefABCDEF0123456789")
                .is_err()
        );
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(&*toml_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(&*toml_string("It's"), "\"It's\"");
    }

    #[test]
    fn input_past_the_bound_is_refused() {
        assert!(read_bounded(&[b'a'; MAX_INPUT][..]).is_ok());
        assert!(matches!(
            read_bounded(&[b'a'; MAX_INPUT + 1][..]),
            Err(Bounded::TooLarge)
        ));
    }
}
